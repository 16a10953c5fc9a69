"""The session driver: the one place a session is started or resumed, its loop built, and
its events stored and handed to whoever watches.

Every front end drives a session through a `SessionDriver`: `tessera run`, the chat and
tasks screens, `tessera review` (with the review profile), and later an editor protocol
or subagents. It loads the effective configuration (the options are its flags), builds
the backend, tools, approval and effort policies, budgets, checkpointer and compaction,
and constructs the `AgentLoop` with every collaborator passed in. Each event is stored
in the SessionStore before any consumer sees it. docs/session.md describes the interface.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from agent import events as ev
from agent.prompt_hooks import run_new_session, submit_message
from agent.sessions import SessionNotFound, SessionStore, new_session_id

if TYPE_CHECKING:
    from agent.ask_user import Asker
    from agent.backend import Backend, Delta
    from agent.calls import Approver
    from agent.hooks import HookRunner
    from agent.loop import AgentLoop
    from tools.base import Tool
    from tools.editor_files import EditorFiles
    from tools.git.worktrees import TaskWorktree
    from tools.sandbox.session import SessionSandbox

log = logging.getLogger(__name__)

Consumer = Callable[[ev.Event], None]


class SessionSetupError(Exception):
    """The session cannot start or go on: a bad option or repository, an unusable
    backend, a session to resume that does not exist."""


# Compaction's limit when neither the user nor the backend says how much the model holds:
# small enough for the 32k-context local models people run, so compaction fires.
UNKNOWN_WINDOW_LIMIT = 32_768

@dataclass(frozen=True)
class Profile:
    """What kind of session this is (the options say how the user wants it run): which
    tools the model gets, the policies it always uses, and how a run ends."""

    name: str = "coding"
    tools: Callable[[list[Tool]], list[Tool]] | None = None  # picks from the defaults
    approval: str | None = None  # a policy this kind of session always uses
    effort: str | None = None
    checkpoints: bool = True  # a git checkpoint before a step's first change
    compaction: bool = True  # near the context limit (SessionOptions.context_limit)
    instructions: str = ""  # appended to the system prompt
    # The events that end a run, given the loop's `finish` (the last of them a Finish;
    # the loop's own is then not stored): a review adds its findings. None: the loop's.
    close_run: Callable[[ev.Finish], list[ev.Event]] | None = None
    subagents: bool = False  # the `task` tool (agent/subagents.py): children of its own


CODING = Profile(subagents=True)


@dataclass
class SessionOptions:
    """What the user asked for; None means the resumed session's value, else the config's."""

    repo: Path
    backend: str | None = None  # replay:FILE, local or openai:URL
    effort: str | None = None  # none, high or auto
    approval: str | None = None  # read-only, ask, auto-edit or auto
    allow: list[str] = field(default_factory=list)  # agent/approval.py Rule specs
    deny: list[str] = field(default_factory=list)
    max_steps: int = 50  # budgets of each run (a follow-up or a resume gets fresh ones)
    max_tokens: int | None = None
    max_wall_s: float | None = None
    resume: str | None = None  # a session id (or a unique prefix), or "last"
    repo_map_tokens: int = 1024  # the repository map in the system prompt (0: none)
    # Tokens; compaction starts at 80% of it. None: the model's context as the backend
    # states it (UNKNOWN_WINDOW_LIMIT, with a warning, when a server does not say); 0: never.
    context_limit: int | None = None
    workdir: Path | None = None  # where the user works (AGENTS.md below the root); None: repo
    db_path: Path | None = None  # the session store; None: the data dir's
    # A new session works in its own git worktree (agent/worktree_runs.py), not in `repo`.
    worktree: bool = False
    verify: bool = True  # the configured checks after steps that change files (--no-verify)


class SessionDriver:
    """One session: new (`start`) or resumed (`SessionOptions.resume`, then `send`).

    Collaborators, all optional: `approver` answers what the approval policy asks (None:
    headless, what would ask is denied); `on_delta` gets the live stream (never stored);
    `on_progress` lines about a slow backend start, from any thread; `store` a store to
    share (else one is opened and closed with the driver); `backend` a ready backend
    instead of the one the options or the config name; `editor` an editor's buffers,
    which the file tools then read and write (tools/editor_files.py); `session_id` the
    id a new session gets (an editor names a session before its first prompt).

    Stopping: cancel the asyncio task awaiting `start`/`send`; the loop records what
    streamed and the run finishes `cancelled`.
    """

    def __init__(
        self,
        options: SessionOptions,
        profile: Profile = CODING,
        *,
        approver: Approver | None = None,
        on_delta: Callable[[Delta], None] | None = None,
        on_progress: Callable[[str], None] | None = None,
        store: SessionStore | None = None,
        backend: Backend | None = None,
        editor: EditorFiles | None = None,
        session_id: str | None = None,
        publish: Consumer | None = None,
        asker: Asker | None = None,
    ) -> None:
        self.options = replace(options)  # its own copy: a resume fills in stored settings
        self.profile = profile
        self._approver, self._on_delta, self._on_progress = approver, on_delta, on_progress
        self._asker = asker  # answers ask_user (None: headless, agent/ask_user.py)
        self._backend_in_place = False  # a rebuilt loop's backend is where it was
        self._owns_store = store is None
        # Where events go instead of the store (a subagent's: into its parent's session).
        self._publish_to = publish
        self.store = store or SessionStore(options.db_path)
        self._backend = backend  # used when the loop is built, instead of making one
        self.backend_spec: str | None = backend.name if backend else options.backend
        self._editor = editor
        self.session_id: str | None = None
        self._new_id = session_id  # what a new session is called (None: a fresh id)
        self.loop: AgentLoop | None = None
        self.running = False
        self.warnings: list[str] = []  # the configuration's, once the loop is built
        self.context_window: int | None = None  # tokens the backend's model serves, if said
        self._window_asked = False  # of the backend in use (a switch asks the new one)
        self._window_warning: str | None = None  # said once in the session's events
        self._window_warned = False
        self._moe_said: list[dict[str, str]] = []  # the last engine_serving's `moe`
        self._consumers: list[Consumer] = []
        self._stored: list[ev.Event] = []  # the resumed session's events
        self._opened = False
        # The session's network namespace, proxy and background processes (built with the
        # loop, closed by `close`).
        self.sandbox: SessionSandbox | None = None
        self.worktree: TaskWorktree | None = None  # where a worktree run works
        self.mcp = None  # the session's MCP servers (tools.mcp.hub.McpHub), once built
        self._after_start: list[ev.Event] = []  # published right after the session_start
        self._mcp_waited = self._mcp_opened = False
        self.mcp_warnings: list[str] = []
        self._hook_warnings: list[str] = []
        self._resume_hooked = False  # SessionStart (source "resume") ran for this resume

    # -- consumers ---------------------------------------------------------------------

    def subscribe(self, consumer: Consumer) -> Callable[[], None]:
        """Hand every event from now on to `consumer`, after it is stored; returns what
        unsubscribes it. A consumer that raises is logged and keeps its subscription:
        storage and the other consumers never see its failure."""
        self._consumers.append(consumer)
        return lambda: self.unsubscribe(consumer)

    def unsubscribe(self, consumer: Consumer) -> None:
        if consumer in self._consumers:
            self._consumers.remove(consumer)

    def _publish(self, event: ev.Event) -> None:
        assert self.session_id is not None
        if self._publish_to is not None:
            self._publish_to(event)
            return
        self.store.append(self.session_id, event)  # stored before anyone sees it
        for consumer in list(self._consumers):
            try:
                consumer(event)
            except Exception:
                log.exception("a consumer of session %s failed on a %s event",
                              self.session_id, event.type)

    def _from_loop(self, event: ev.Event) -> None:
        if isinstance(event, ev.Finish) and self.sandbox is not None:
            from agent.calls import network_events

            # Connections made since the last tool result (a background process's), before
            # the run's last event.
            for network_event in network_events(self.sandbox, event.steps or None):
                self._publish(network_event)
        if isinstance(event, ev.Finish) and self.profile.close_run is not None:
            return  # the profile ends the run with its own events (_close_run)
        self._publish(event)
        if isinstance(event, ev.SessionStart):  # what had to wait for the session's id
            events, self._after_start = self._after_start, []
            for later in events:
                self._publish(later)

    # -- opening and building ------------------------------------------------------------

    def open(self) -> list[ev.Event]:
        """The stored events of the session to resume ([] for a new one). Its latest
        settings (backend and effort, as `/model` and `/effort` changed them, and its
        approval policy) apply where the options name none. Raises SessionSetupError."""
        from agent.resume import CannotResume, stored_settings

        if self._opened or not self.options.resume:
            return list(self._stored)
        try:
            session_id = self.store.resolve(self.options.resume)
            events = self.store.events(session_id)
            stored = stored_settings(events)
        except (SessionNotFound, CannotResume) as exc:
            raise SessionSetupError(str(exc)) from exc
        if owner := self.store.running_elsewhere(session_id):
            where = f"process {owner.pid}" + (f" on {owner.host}" if owner.alive() is None else "")
            raise SessionSetupError(
                f"session {session_id} is running in {where}; stop it there first "
                "(a session has one writer at a time)"
            )
        o = self.options
        self.options = replace(o, backend=o.backend or stored.backend,
                               effort=o.effort or stored.effort,
                               approval=o.approval or stored.approval)
        self._resume_in_worktree(session_id, events)
        if self._backend is None:
            self.backend_spec = self.options.backend
        self.session_id, self._stored, self._opened = session_id, events, True
        return list(events)

    def _resume_in_worktree(self, session_id: str, events: list[ev.Event]) -> None:
        """A worktree run goes on in its worktree, wherever it is resumed from."""
        from agent.worktree_runs import resumed_worktree
        from tools.git.worktrees import WorktreeError

        try:
            found = resumed_worktree(session_id, events)
        except WorktreeError as exc:
            raise SessionSetupError(str(exc)) from exc
        if found is not None:
            self.worktree, repo = found
            self.options = replace(self.options, repo=repo, worktree=False)

    def prepare(self) -> AgentLoop:
        """Build the loop now (`start` and `send` do when needed, off the event loop).
        Raises SessionSetupError when the repository, an option or the backend is unusable."""
        self.open()
        if self.loop is None:
            self.loop = self._build()
        return self.loop

    def _build(self) -> AgentLoop:
        from agent import paths
        from agent.approval import ApprovalPolicy, RuleError
        from agent.backend import BackendError
        from agent.backends import make_backend
        from agent.compaction import CompactionSettings
        from agent.config import ConfigError, load_config
        from agent.effort import EffortPolicy
        from agent.loop import AgentLoop, Budgets, LoopSettings
        from agent.session_tools import session_tools
        from agent.skills import skill_tools
        from tools.base import ToolContext
        from tools.registry import default_tools
        from tools.sandbox.session import SessionSandbox

        o, profile = self.options, self.profile
        repo = o.repo.resolve()
        if not repo.is_dir():
            raise SessionSetupError(f"{repo} is not a directory")
        if o.max_steps < 1:
            raise SessionSetupError("--max-steps must be at least 1")
        flags = {"backend.spec": o.backend, "approval.policy": profile.approval or o.approval,
                 "agent.effort": profile.effort or o.effort}
        try:
            config = load_config(repo, flags)
            rules = _approval_rules(config.deny_rules, config.allow_rules, o)
            backend = self._backend or make_backend(config.backend, progress=self._on_progress)
        except (ConfigError, RuleError, BackendError) as exc:
            raise SessionSetupError(str(exc)) from exc
        tools = [*default_tools(), *skill_tools(repo), *session_tools(self._asker)]
        tools = profile.tools(tools) if profile.tools else tools
        if profile.subagents:
            from agent.subagents import TaskTool

            tools = [*tools, TaskTool(self, tools)]
        if o.worktree and self.worktree is None and not self._stored:
            repo = self._new_worktree(repo, config.worktree_max_age_days)
        self._close_sandbox()
        self.sandbox = SessionSandbox(repo, config.sandbox_policy(), config.network_policy())
        hooks = self._hooks(repo)
        settings = LoopSettings(
            repo=repo,
            tools=tools,
            tool_context=ToolContext(repo, sandbox=config.sandbox_policy(),
                                     data_dir=paths.data_dir(), syntax_guard=config.syntax_guard,
                                     session=self.sandbox, network=config.network_policy(),
                                     editor=self._editor),
            approval=ApprovalPolicy(config.approval, rules, config.sandbox_mode),
            effort=EffortPolicy(config.effort),
            budgets=Budgets(o.max_steps, o.max_tokens, o.max_wall_s),
            approver=self._approver,
            checkpointer=_git_checkpointer if profile.checkpoints else None,
            on_delta=self._on_delta,
            compaction=(CompactionSettings(o.context_limit or UNKNOWN_WINDOW_LIMIT)
                        if o.context_limit != 0 and profile.compaction else None),
            verifier=_verifier(repo, config, o.verify),
            hooks=hooks,
        )
        self.warnings = [*config.warnings, *self._hook_warnings]
        if self._backend is None:
            self.backend_spec = config.backend
        self._start_mcp(repo, settings)
        loop = AgentLoop(backend, settings, self._from_loop)
        if self._stored:
            self._restore(loop)
        return loop

    def _new_worktree(self, repo: Path, max_age_days: float) -> Path:
        """Make this new session's worktree; it works there from now on (the folder
        matching `repo` is returned)."""
        from agent.worktree_runs import start_session_worktree
        from tools.git.worktrees import WorktreeError

        self._new_id = self._new_id or new_session_id()  # the branch is named after it
        try:
            self.worktree, inside, workdir = start_session_worktree(
                self.store, repo, self.options.workdir, self._new_id, max_age_days)
        except WorktreeError as exc:
            raise SessionSetupError(str(exc)) from exc
        self.options = replace(self.options, repo=inside, workdir=workdir)
        return inside

    def _drop_unstarted_worktree(self) -> None:
        """A session that could not start leaves no worktree behind."""
        from agent.worktree_runs import discard_unstarted

        if self.worktree is not None and self.session_id is None:
            discard_unstarted(self.worktree)
            self.worktree = None

    async def _save_worktree(self) -> None:
        """Commit the worktree's files onto its branch, so the branch holds the run's work."""
        from agent.worktree_runs import save_quietly

        if self.worktree is not None:
            await asyncio.to_thread(save_quietly, self.worktree)

    def _hooks(self, repo: Path) -> HookRunner | None:
        """The user's hooks (and a trusted repository's); None when there are none."""
        from agent.hooks import HookConfigError, HookRunner, load_hooks

        try:
            specs, warnings = load_hooks(repo)
        except HookConfigError as exc:
            raise SessionSetupError(str(exc)) from exc
        self._hook_warnings = warnings
        if not specs:
            return None
        return HookRunner(specs, (self.options.workdir or repo).resolve(), self._from_loop,
                          lambda: self.session_id)

    def start_mcp_servers(self) -> None:
        """Start the configured MCP servers now, in the background, and return at once
        (a front end calls it when it opens, so they are up by the first message;
        building the loop does it otherwise). A profile that picks its own tools (a
        review) gets none and starts none. `mcp_warnings`: the configuration's."""
        from agent.mcp_servers import session_hub

        if self._mcp_opened or self.profile.tools is not None:
            return
        self._mcp_opened = True
        self.mcp, self.mcp_warnings = session_hub(self.options.repo.resolve())
        if self.mcp is not None:
            self.mcp.start_all()

    def _start_mcp(self, repo: Path, settings) -> None:
        self.start_mcp_servers()
        self.warnings += self.mcp_warnings
        if self.mcp is not None:
            settings.dynamic_tools = self.mcp.tools

    async def _mcp_ready(self) -> list[ev.Event]:
        """Before the first step: wait for servers still starting (each bounded by its
        startup_timeout), so the model's first request has their tools; an error event
        for each that failed (the session goes on; it is tried again next message)."""
        if self.mcp is None or self._mcp_waited:
            return []
        self._mcp_waited = True
        await asyncio.to_thread(self.mcp.wait_started)
        return [ev.Error(f"{status.error}; its tools are unavailable until it starts (tried "
                         "again with your next message; `/mcp` shows it)")
                for status in self.mcp.status() if status.error and status.state == "failed"]

    def _restore(self, loop: AgentLoop) -> None:
        from agent.resume import CannotResume, replayed_turns, restore

        try:
            restore(loop, self._stored)
        except CannotResume as exc:
            raise SessionSetupError(str(exc)) from exc
        skip = getattr(loop.backend, "skip", None)
        if skip is not None and not self._backend_in_place:  # a replay goes on after the
            # turns it already gave
            skip(replayed_turns(self._stored))

    # -- running -----------------------------------------------------------------------

    @contextmanager
    def _working(self) -> Iterator[None]:
        if self.running:
            raise SessionSetupError("the session is already working on a turn")
        self.running = True
        try:
            yield
        finally:
            self.running = False

    async def _loop(self) -> AgentLoop:
        return self.loop or await asyncio.to_thread(self.prepare)

    async def _session_start(self, task: str, images: list[dict] | None) -> ev.SessionStart:
        from agent import paths
        from agent.context import build_system_context
        from agent.skills import skills_section

        self.open()
        if self.session_id is not None:
            raise SessionSetupError("a session is already open: send a follow-up instead")
        loop = await self._loop()
        repo = self.options.repo.resolve()
        # The repository map can take a while on a big tree: off the event loop.
        context = await asyncio.to_thread(
            build_system_context, repo, self.options.workdir or repo,
            repo_map_tokens=self.options.repo_map_tokens, cache_dir=paths.data_dir() / "cache",
        )
        prompt = context.prompt
        if self.profile.instructions:
            prompt += "\n\n" + self.profile.instructions
        if section := skills_section(loop.settings.tools):
            prompt += "\n\n" + section
        await self._check_prompt_fits(loop, prompt)
        self.session_id = self._new_id or new_session_id()
        return ev.SessionStart(
            self.session_id, task, str(repo), self.backend_spec or "",
            loop.settings.effort.mode, loop.settings.approval.mode, prompt,
            context.instruction_files, list(images or []),
            self.worktree.to_dict() if self.worktree else None,
        )

    async def learn_context_window(self) -> int | None:
        """The model's context as the backend states it (None: unknown); compaction's
        limit is lowered to it. The local backend connects (or starts its engine) here."""
        from agent.backend import KnowsContextWindow, context_window_of

        loop = await self._loop()
        if not self._window_asked:
            self.context_window = await context_window_of(loop.backend)
            self._window_asked = self.context_window is not None or not isinstance(
                loop.backend, KnowsContextWindow)  # a server that could not be asked: again
            compaction, limit = loop.settings.compaction, self.options.context_limit
            if compaction is not None:  # (after a switch it may go up again)
                compaction.context_limit = self._compaction_limit(limit, loop)
        return self.context_window

    async def _engine_serving_event(self, loop: AgentLoop) -> ev.EngineServing | None:
        """What serves the backend's MoE layers, when it differs from what this session
        last said (a subagent shares its parent's engine and says nothing)."""
        from agent.backend import moe_serving_of

        if self._publish_to is not None:
            return None
        moe = [asdict(verdict) for verdict in await moe_serving_of(loop.backend)]
        if moe == self._moe_said:
            return None
        self._moe_said = moe
        return ev.EngineServing(self.backend_spec or loop.backend.name, moe)

    def _compaction_limit(self, configured: int | None, loop: AgentLoop) -> int:
        """A configured limit (never beyond the window); else the window; else, for a
        server that does not say, a conservative default and a warning."""
        from agent.backend import KnowsContextWindow

        window = self.context_window
        if configured:
            return min(configured, window or configured)
        if window:
            return window
        if isinstance(loop.backend, KnowsContextWindow) and not self._window_warned:
            self._window_warning = (
                f"{self.backend_spec or loop.backend.name} does not state its model's context "
                f"window; older turns are compacted at 80% of {UNKNOWN_WINDOW_LIMIT:,} tokens. "
                "Set `--context-limit TOKENS` to the context the model is served with.")
        return UNKNOWN_WINDOW_LIMIT

    def _window_warning_event(self, step: int) -> ev.Error | None:
        """The unknown-window warning, once per session, as a non-fatal error event."""
        if not self._window_warning or self._window_warned:
            return None
        self._window_warned = True
        return ev.Error(self._window_warning, step=step)

    async def _check_prompt_fits(self, loop: AgentLoop, prompt: str) -> None:
        """Refuse, before anything is sent, a session whose system prompt and tool
        definitions alone fill the model's context; say what to change."""
        window = await self.learn_context_window()
        if not window:
            return
        schemas = [tool.schema() for tool in loop.sync_tools()]
        # The tokenizer may load on first use: off the event loop.
        needed = await asyncio.to_thread(lambda: loop.counter.context(prompt, schemas, []))
        if needed < window:
            return
        repo_map = self.options.repo_map_tokens
        smaller_map = (f", or a smaller repository map (`--repo-map-tokens N`, now {repo_map}; "
                       "0 for none)" if repo_map else "")
        raise SessionSetupError(
            f"the system prompt and the {len(schemas)} tool definitions alone take about "
            f"{needed:,} tokens, but the model's context is {window:,} tokens: nothing was "
            "sent. Serve a larger context (`--max-model-len N` on `tessera engine start` or "
            f"`tessera serve`; well over {needed:,}), use fewer tools{smaller_map}."
        )

    async def start(self, task: str, images: list[dict] | None = None) -> ev.Finish:
        """Start a new session with `task` (and stored images, agent.attachments.attach)
        and run until the model answers, a budget ends it, or it is cancelled."""
        with self._working():
            try:
                start = await self._session_start(task, images)
            except BaseException:
                await asyncio.to_thread(self._drop_unstarted_worktree)
                raise
            assert self.loop is not None
            self._after_start = await self._mcp_ready()
            if (warning := self._window_warning_event(self.loop.step)) is not None:
                self._after_start.append(warning)
            if (serving := await self._engine_serving_event(self.loop)) is not None:
                self._after_start.append(serving)
            finish = await run_new_session(self.loop, start)
            await self._save_worktree()
            return self._close_run(finish)

    async def send(self, text: str | None = None, images: list[dict] | None = None) -> ev.Finish:
        """The user's next message: it starts the session when none is open; otherwise
        every call left without a result (a crash, a stop) gets one first, then `text`
        goes to the model. Without text it continues a resumed session as it stood."""
        self.open()
        if self.session_id is None:
            if not text:
                raise SessionSetupError("nothing to do: give a task")
            return await self.start(text, images)
        from agent.resume import finish_interrupted_calls

        with self._working():
            loop = await self._loop()
            await self.learn_context_window()
            if self.mcp is not None:
                for event in await self._mcp_ready():  # a resumed session's first turn
                    self._publish(event)
                self.mcp.start_all()  # a server that failed: again, in the background
                loop.sync_tools()  # an interrupted call to one of their tools is known
            if (warning := self._window_warning_event(loop.step)) is not None:
                loop.emit(warning)
            if (serving := await self._engine_serving_event(loop)) is not None:
                loop.emit(serving)
            await finish_interrupted_calls(loop)
            if text or images:
                resumed, self._resume_hooked = bool(self._stored) and not self._resume_hooked, True
                blocked = await submit_message(loop, text or "", images, resumed)
                if blocked is not None:
                    return self._close_run(blocked)
            finish = await loop.continue_run()
            await self._save_worktree()
            return self._close_run(finish)

    def _close_run(self, finish: ev.Finish) -> ev.Finish:
        if self.profile.close_run is None:
            return finish
        closing = self.profile.close_run(finish)
        for event in closing:
            self._publish(event)
        last = closing[-1]
        assert isinstance(last, ev.Finish)
        return last

    async def finish_without_model(self, task: str, summary: str) -> ev.Finish:
        """Open a session for `task` and end it `done` at once, without asking the model
        (a review with nothing to review); stored and shown like any other."""
        with self._working():
            start = await self._session_start(task, None)
            finish = ev.Finish("done", summary, 0)
            for event in (start, finish):
                self._publish(event)
            return finish

    async def compact(self) -> ev.Compaction:
        """Compact the conversation now (agent.loop.AgentLoop.compact, reason "user").
        Raises NothingToCompact before the session has started or when the history is
        too short, CompactionError, SessionSetupError or the backend's BackendError;
        cancelling the task that awaits it leaves the history as it was."""
        from agent.compaction import NothingToCompact
        from agent.resume import finish_interrupted_calls

        self.open()
        if self.session_id is None:
            raise NothingToCompact("nothing to compact yet: the conversation has not started")
        with self._working():
            loop = await self._loop()
            await finish_interrupted_calls(loop)
            return await loop.compact(reason="user")

    # -- settings -----------------------------------------------------------------------

    def set_profile(self, profile: Profile, approval: str | None = None) -> None:
        """Run the next turns as `profile` (plan mode, then coding once the plan is
        approved), with `approval` as the policy when given; the conversation and the
        backend go on as they are (the loop is rebuilt from the stored events)."""
        if self.running:
            raise SessionSetupError("stop the model first: it is working")
        self.profile = profile
        if approval is not None:
            self.options.approval = approval
        if self.loop is None:
            return
        self._backend, self._backend_in_place = self.loop.backend, True
        self._window_asked = False  # the new loop's compaction learns the window again
        if self.session_id is not None:
            self._stored = self.store.events(self.session_id)
        self.loop = None

    async def record(self, event: ev.Event) -> None:
        """Add an event of the front end's making (a plan decision, the todo list of an
        approved plan) to the started session: stored, shown, and applied to the model's
        history like the loop's own."""
        if self.session_id is None:
            raise SessionSetupError("the session has not started")
        (await self._loop()).emit(event)

    def set_effort(self, mode: str) -> str:
        """Reasoning effort from the next step on (none, high or auto); stored in the
        session, so a resume keeps it. Raises ValueError for another mode."""
        from agent.effort import MODES

        if mode not in MODES:
            raise ValueError(f"effort must be one of {', '.join(MODES)}")
        self._open_if_possible()
        self.options.effort = mode
        if self.loop is not None:
            self.loop.settings.effort.mode = mode
        self._record_setting(ev.SettingsChange(effort=mode))
        return mode

    def set_approval(self, mode: str) -> str:
        """The approval policy from the next call on (read-only, ask, auto-edit or auto);
        stored in the session, so a resume keeps it. The rules stay as they are. Raises
        ValueError for another policy."""
        from agent.approval import POLICIES

        if mode not in POLICIES:
            raise ValueError(f"approval must be one of {', '.join(POLICIES)}")
        self._open_if_possible()
        self.options.approval = mode
        if self.loop is not None:
            self.loop.settings.approval.mode = mode
        self._record_setting(ev.SettingsChange(approval=mode))
        return mode

    def switch_backend(self, spec: str) -> str:
        """Use the backend `spec` (replay:FILE, local, openai:URL) from the next step on,
        keeping the conversation; stored in the session, so a resume uses it. Raises
        SessionSetupError for a spec agent.backends.make_backend refuses, or mid-turn."""
        from agent.backend import BackendError
        from agent.backends import make_backend

        if self.running:
            raise SessionSetupError("stop the model first: it is working")
        self._open_if_possible()
        try:
            backend = make_backend(spec, progress=self._on_progress)
        except BackendError as exc:
            raise SessionSetupError(str(exc)) from exc
        if self.loop is not None:
            self.loop.backend = backend
        else:  # the loop is built on it; a replay starts at its first turn
            self._backend = backend
        self.context_window, self._window_asked = None, False  # learned on the next send
        self.backend_spec = self.options.backend = spec
        self._record_setting(ev.SettingsChange(backend=spec))
        return spec

    def child(self, options: SessionOptions, profile: Profile, *, backend: Backend,
              publish: Consumer) -> SessionDriver:
        """A session inside this one (a subagent, agent/subagents.py): the same store and
        approver, `backend`, and its events handed to `publish` instead of being stored
        as a session of their own."""
        return SessionDriver(options, profile, approver=self._approver, store=self.store,
                             backend=backend, publish=publish)

    def set_verify(self, enabled: bool) -> None:
        """Run the configured checks after steps that change files, or not (`/verify`)."""
        self.options.verify = enabled
        if self.loop is not None and self.loop.settings.verifier is not None:
            self.loop.settings.verifier.enabled = enabled

    def _open_if_possible(self) -> None:
        # A session that cannot be resumed is reported by what needs it (start, send);
        # a setting is kept for whatever runs next.
        with suppress(SessionSetupError):
            self.open()

    def _record_setting(self, change: ev.SettingsChange) -> None:
        if self.session_id is None:
            return  # not started yet: its session_start carries the setting
        if self.loop is None:
            self._stored.append(change)  # restored with the rest when the loop is built
        self._publish(change)

    # -- the repository's checkpoints ------------------------------------------------------

    def undo(self):
        """Restore the newest checkpoint that differs from the work tree (blocking: run it
        in a thread). Returns tools.git.checkpoints.RestoreResult."""
        from tools.git.checkpoints import restore_checkpoint
        from tools.git.repo import open_repo

        return restore_checkpoint(open_repo(self.options.repo))

    def checkpoints(self):
        """The checkpoints taken before agent changes, newest first."""
        from tools.git.checkpoints import list_checkpoints
        from tools.git.repo import open_repo

        return list_checkpoints(open_repo(self.options.repo))

    def processes(self) -> list[dict]:
        """The session's background processes (`bash(background=true)`), for `/ps`: each
        with id, command, status, ports, pid, uptime_s."""
        from tools.background_tools import describe_processes

        return describe_processes(self.sandbox) if self.sandbox is not None else []

    def _close_sandbox(self) -> None:
        if self.sandbox is not None:
            self.sandbox.close()
            self.sandbox = None

    def close(self, reason: str = "exit") -> None:
        """Run the SessionEnd hooks (`reason`: exit, clear), stop the session's background
        processes, proxy and MCP servers, and let go of the store (when the driver opened
        it); the session stays stored."""
        hooks = self.loop.settings.hooks if self.loop is not None else None
        if hooks is not None and self.session_id is not None:
            hooks.run_now("SessionEnd", {"reason": reason})
        self._close_sandbox()
        if self.mcp is not None:  # its children die with the session
            self.mcp.close()
        if self._owns_store:
            self.store.close()


def _approval_rules(deny: tuple[str, ...], allow: tuple[str, ...], options: SessionOptions):
    """Deny rules, then allow rules, from the config files and the options."""
    from agent.approval import Rule, Verdict

    return [
        *(Rule.parse(Verdict.DENY, spec) for spec in (*deny, *options.deny)),
        *(Rule.parse(Verdict.ALLOW, spec) for spec in (*allow, *options.allow)),
    ]


def _verifier(repo: Path, config, enabled: bool):
    from agent import paths
    from agent.verify import Verifier

    return Verifier(repo, config.verify_commands, config.sandbox_policy(), enabled,
                    config.verify_from_untrusted_repo,
                    paths.data_dir() / "verify_suggested.json")


def _git_checkpointer(repo: Path, label: str) -> str:
    from tools.git.checkpoints import create_checkpoint
    from tools.git.repo import open_repo

    return create_checkpoint(open_repo(repo), label).id
