"""Hooks: the user's own commands, run at fixed points of a session (docs/hooks.md).

Configured as `[[hooks.EVENT]]` tables (`matcher`, `command`, `timeout`, `on_error`) in
the user's config and, only in a trusted repository, the repository's. A hook gets one
JSON object on stdin in Claude Code's shape, so scripts written for it work unchanged.
Exit 0 goes on (stdout JSON may add context, a decision or rewritten tool input); exit 2
blocks, and stderr is the reason the model reads.

Unlike Claude Code, a guard fails closed: a PreToolUse or UserPromptSubmit hook that
fails in any other way (another exit code, a crash, a missing interpreter, a timeout,
unreadable JSON) blocks too, unless its entry says `on_error = "allow"`. Every run is a
`hook` event, so the user sees why something was blocked.

Hooks only ever block or narrow: a rewritten tool input is judged by the approval rules
afterwards (agent/calls.py asks the hooks first), and an "allow" decision widens nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from agent import events as ev

if TYPE_CHECKING:
    from tools.base import Tool


class HookedCall(Protocol):
    """What the tool hooks use of a call (agent.calls.PreparedCall): its event, its
    tool and its validated arguments, which a PreToolUse rewrite replaces."""

    event: ev.ToolCall
    tool: Tool | None
    args: dict[str, Any]

HOOK_EVENTS = ("PreToolUse", "PostToolUse", "UserPromptSubmit", "Stop", "SessionStart",
               "SessionEnd", "PreCompact", "Notification")
GUARD_EVENTS = ("PreToolUse", "UserPromptSubmit")  # these fail closed
# Where exit 2 (or a JSON "block") has an effect; elsewhere it is shown, not obeyed.
BLOCKING_EVENTS = (*GUARD_EVENTS, "PostToolUse", "Stop")
# What an entry's `matcher` (a regex on the whole value) is matched against, per event, as
# in Claude Code; the other events ignore it.
MATCHED_FIELD = {"PreToolUse": "tool_name", "PostToolUse": "tool_name",
                 "SessionStart": "source", "PreCompact": "trigger", "SessionEnd": "reason"}
DEFAULT_TIMEOUT_S = 60.0
REASON_LIMIT = 4000  # characters of a hook's stderr kept as the reason


class HookConfigError(ValueError):
    """A `[[hooks.EVENT]]` entry that cannot be used."""


@dataclass(frozen=True)
class HookSpec:
    event: str
    command: str
    matcher: str = ""  # a whole-value regex (MATCHED_FIELD: the tool name...); "" or "*": all
    timeout_s: float = DEFAULT_TIMEOUT_S
    on_error: str = "block"  # "block" or "allow": what a failed guard does
    source: str = ""

    def matches(self, subject: str) -> bool:
        """Whether it runs for `subject`: the tool's name, or what MATCHED_FIELD says."""
        if self.event not in MATCHED_FIELD or self.matcher in ("", "*"):
            return True
        return re.fullmatch(self.matcher, subject) is not None


def parse_hooks(table: Any, source: str) -> list[HookSpec]:
    """The entries of a config file's `hooks` table; raises HookConfigError."""
    if table is None:
        return []
    if not isinstance(table, dict):
        raise HookConfigError(f"{source}: hooks must be a table of [[hooks.EVENT]] entries")
    specs: list[HookSpec] = []
    for event, entries in table.items():
        if event not in HOOK_EVENTS:
            raise HookConfigError(
                f"{source}: unknown hook event {event!r}; the events are {', '.join(HOOK_EVENTS)}")
        if isinstance(entries, dict):
            entries = [entries]
        if not isinstance(entries, list):
            raise HookConfigError(f"{source}: hooks.{event} must be [[hooks.{event}]] entries")
        for number, entry in enumerate(entries, 1):
            specs.append(_parse_entry(entry, event, f"{source}: hooks.{event}[{number}]"))
    return specs


def _parse_entry(entry: Any, event: str, where: str) -> HookSpec:
    if not isinstance(entry, dict):
        raise HookConfigError(f"{where}: expected a table")
    unknown = set(entry) - {"matcher", "command", "timeout", "on_error"}
    if unknown:
        raise HookConfigError(f"{where}: unknown key(s) {sorted(unknown)}")
    command, matcher = entry.get("command"), entry.get("matcher", "")
    if not isinstance(command, str) or not command.strip():
        raise HookConfigError(f"{where}: `command` must be a non-empty string")
    if not isinstance(matcher, str):
        raise HookConfigError(f"{where}: `matcher` must be a string (a tool-name regex)")
    if matcher not in ("", "*"):
        try:
            re.compile(matcher)
        except re.error as exc:
            raise HookConfigError(f"{where}: matcher {matcher!r} is not a regex: {exc}") from exc
    timeout = entry.get("timeout", DEFAULT_TIMEOUT_S)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise HookConfigError(f"{where}: `timeout` must be a positive number of seconds")
    on_error = entry.get("on_error", "block")
    if on_error not in ("block", "allow"):
        raise HookConfigError(f"{where}: `on_error` must be \"block\" or \"allow\"")
    return HookSpec(event, command, matcher, float(timeout), on_error, where.split(": ")[0])


def load_hooks(repo: Path) -> tuple[list[HookSpec], list[str]]:
    """The user's hooks, then the repository's when it is trusted; and warnings (a
    repository's hooks ignored because it is not trusted). Raises HookConfigError."""
    from agent import paths
    from agent.config import ConfigError, read_section, trust_state

    warnings: list[str] = []
    user_file, project_file = paths.user_config_file(), paths.project_config_file(repo)
    try:
        specs = parse_hooks(read_section(user_file, "hooks"), str(user_file))
        project_table = read_section(project_file, "hooks")
    except ConfigError as exc:
        raise HookConfigError(str(exc)) from exc
    if project_table:
        if trust_state(repo) == "trusted":
            specs += parse_hooks(project_table, str(project_file))
        else:  # a repository's hook is code run on the host: only with the user's consent
            warnings.append(f"{project_file}: hooks ignored: the repository is not trusted "
                            "(run `tessera trust` in it to run its hooks)")
    return specs, warnings


@dataclass
class HookOutcome:
    """What the hooks of one moment decided, together."""

    blocked: bool = False
    reason: str = ""  # why it was blocked, for the model
    context: list[str] = field(default_factory=list)  # more for the model to read
    updated_input: dict[str, Any] | None = None  # PreToolUse: the arguments to run instead
    events: list[ev.Hook] = field(default_factory=list)


@dataclass
class _Ran:
    exit_code: int | None
    stdout: str
    stderr: str
    duration_s: float
    failure: str = ""  # why it did not run to an exit: a timeout, a shell that is missing


def _execute(spec: HookSpec, payload: dict[str, Any], cwd: Path) -> _Ran:
    """Run the command on the host (it is the user's own code) in its own process group,
    so a timeout kills whatever it started."""
    env = {**os.environ, "TESSERA_PROJECT_DIR": str(cwd), "CLAUDE_PROJECT_DIR": str(cwd)}
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            ["/bin/sh", "-c", spec.command], cwd=cwd, env=env, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
            encoding="utf-8", errors="replace")
    except OSError as exc:
        return _Ran(None, "", "", time.monotonic() - started, f"could not start: {exc}")
    try:
        out, err = process.communicate(json.dumps(payload, default=str), timeout=spec.timeout_s)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        return _Ran(None, out, err, time.monotonic() - started,
                    f"timed out after {spec.timeout_s:g} s")
    return _Ran(process.returncode, out, err, time.monotonic() - started)


def _tail(text: str) -> str:
    text = text.strip()
    return text if len(text) <= REASON_LIMIT else "…" + text[-REASON_LIMIT:]


def _judge(spec: HookSpec, ran: _Ran, outcome: HookOutcome) -> tuple[str, str]:
    """Fold one run into the outcome; returns the event's (decision, reason)."""
    failure = ran.failure
    if not failure and ran.exit_code not in (0, 2):
        hint = " (command not found?)" if ran.exit_code == 127 else ""
        failure = f"exit code {ran.exit_code}{hint}" + (f": {_tail(ran.stderr)}" if
                                                          ran.stderr.strip() else "")
    parsed: dict[str, Any] = {}
    if not failure and ran.exit_code == 0 and ran.stdout.lstrip().startswith("{"):
        try:
            value = json.loads(ran.stdout)
            parsed = value if isinstance(value, dict) else {}
        except json.JSONDecodeError as exc:
            failure = f"its output looks like JSON but is not: {exc.msg}"
    if failure:
        if spec.event in GUARD_EVENTS and spec.on_error != "allow":
            outcome.blocked = True
            outcome.reason = (f"the {spec.event} hook `{spec.command}` failed ({failure}); a "
                              "guard that fails blocks")
            return "fail-closed", failure
        return "failed", failure
    if ran.exit_code == 2:
        reason = _tail(ran.stderr) or "(the hook gave no reason)"
        if spec.event not in BLOCKING_EVENTS:
            return "failed", f"exit 2, but a {spec.event} hook cannot block: {reason}"
        outcome.blocked, outcome.reason = True, reason
        return "block", reason
    return _judge_output(spec, ran.stdout, parsed, outcome)


def _judge_output(spec: HookSpec, stdout: str, parsed: dict[str, Any],
                  outcome: HookOutcome) -> tuple[str, str]:
    specific = parsed.get("hookSpecificOutput")
    specific = specific if isinstance(specific, dict) else {}
    # `continue: false` stops what is under way; for Stop that is the stop itself.
    halted = parsed.get("continue") is False and spec.event != "Stop"
    blocked = (parsed.get("decision") == "block" or halted
               or specific.get("permissionDecision") == "deny")
    if blocked and spec.event in BLOCKING_EVENTS:
        reason = next((str(v) for v in (specific.get("permissionDecisionReason"),
                                        parsed.get("reason"), parsed.get("stopReason")) if v),
                      "(the hook gave no reason)")
        outcome.blocked, outcome.reason = True, reason
        return "block", reason
    decision = "continue"
    updated = specific.get("updatedInput")
    if spec.event == "PreToolUse" and isinstance(updated, dict):
        outcome.updated_input = updated
        decision = "rewrite"
    context = specific.get("additionalContext") or parsed.get("additionalContext")
    if not parsed and spec.event in ("UserPromptSubmit", "SessionStart"):
        context = stdout.strip()  # plain text on stdout is context for these two
    if isinstance(context, str) and context.strip():
        outcome.context.append(context.strip())
        decision = "context" if decision == "continue" else decision
    return decision, ""


def _subject(event: str, fields: dict[str, Any]) -> str:
    return str(fields.get(MATCHED_FIELD.get(event, ""), ""))


class HookRunner:
    """The session's hooks. `emit` publishes each run's `hook` event; `session_id` says
    the session's id when it has one. Runs are blocking processes: the async entry
    points run them off the event loop, one hook after another (a rewrite is seen by
    the next hook), stopping at the first block."""

    def __init__(self, specs: list[HookSpec], cwd: Path, emit: Callable[[ev.Event], None],
                 session_id: Callable[[], str | None]) -> None:
        self.specs, self.cwd, self._emit, self._session_id = specs, cwd, emit, session_id
        self._call_notes: dict[str, list[str]] = {}  # call id -> notes for its result
        self.stop_blocked = False  # a Stop hook kept the run going (stop_hook_active)

    def wants(self, event: str, subject: str = "") -> bool:
        return any(s.event == event and s.matches(subject) for s in self.specs)

    def run_now(self, event: str, fields: dict[str, Any], tool: str = "", *,
                publish: bool = True) -> HookOutcome:
        """Run the hooks of `event` here (blocking); `publish=False` leaves their events
        in the outcome for the caller to publish after what must come first."""
        payload = {"session_id": self._session_id() or "", "cwd": str(self.cwd),
                   "hook_event_name": event, **fields}
        outcome = HookOutcome()
        for spec in self.specs:
            if spec.event != event or not spec.matches(_subject(event, fields)):
                continue
            try:
                ran = _execute(spec, payload, self.cwd)
            except Exception as exc:  # running it went wrong here: a guard still fails closed
                ran = _Ran(None, "", "", 0.0, f"could not run: {type(exc).__name__}: {exc}")
            decision, reason = _judge(spec, ran, outcome)
            outcome.events.append(ev.Hook(event, spec.command, ran.exit_code,
                                          round(ran.duration_s, 3), decision, reason, tool))
            if outcome.blocked:
                break
            if outcome.updated_input is not None:
                payload = {**payload, "tool_input": outcome.updated_input}
        if publish:
            self.publish(outcome)
        return outcome

    def publish(self, outcome: HookOutcome) -> None:
        for event in outcome.events:
            self._emit(event)
        outcome.events = []

    async def run(self, event: str, fields: dict[str, Any], tool: str = "", *,
                  publish: bool = True) -> HookOutcome:
        if not self.wants(event, _subject(event, fields)):
            return HookOutcome()
        outcome = await asyncio.to_thread(self.run_now, event, fields, tool, publish=False)
        if publish:
            self.publish(outcome)  # on the event loop, like every other event
        return outcome

    # -- around tool calls (agent/calls.py) -------------------------------------------------

    async def before_tool(self, call: HookedCall) -> str | None:
        """PreToolUse: None when the call may go on to approval (its arguments perhaps
        rewritten, so the rules judge what runs), else the refusal the model reads."""
        from tools.base import ToolError

        name = call.event.name
        outcome = await self.run("PreToolUse", {"tool_name": name, "tool_input": call.args},
                                 name)
        if outcome.blocked:
            return (f"blocked by a PreToolUse hook: {outcome.reason}. Do not retry this call "
                    "as it is; continue without it or finish.")
        notes = [f"[hook: {text}]" for text in outcome.context]
        if outcome.updated_input is not None:
            assert call.tool is not None
            try:
                parsed = call.tool.parse_args(outcome.updated_input)
            except ToolError as exc:
                return f"blocked: a PreToolUse hook rewrote the arguments into invalid ones ({exc})"
            call.args = parsed.model_dump(exclude_unset=True)
            notes.append("[a PreToolUse hook changed the arguments; what ran: "
                         f"{json.dumps(call.args, ensure_ascii=False)}]")
        if notes:
            self._call_notes[call.event.id] = notes
        return None

    async def after_tool(self, call: HookedCall, ok: bool, text: str,
                         data: dict[str, Any]) -> str:
        """PostToolUse: the result text, with what the hooks add for the model."""
        notes = self._call_notes.pop(call.event.id, [])
        name = call.event.name
        if self.wants("PostToolUse", name):
            response = {"ok": ok, "output": text, **data}
            outcome = await self.run("PostToolUse", {"tool_name": name, "tool_input": call.args,
                                                     "tool_response": response}, name)
            notes += [f"[hook: {context}]" for context in outcome.context]
            if outcome.blocked:
                notes.append(f"[a PostToolUse hook objects: {outcome.reason}]")
        return "\n".join([text, *notes]) if notes else text

    async def notify(self, message: str) -> None:
        await self.run("Notification", {"message": message})

    async def stop(self) -> str | None:
        """Stop: the reason to keep going when a hook blocks the model's finishing."""
        outcome = await self.run("Stop", {"stop_hook_active": self.stop_blocked})
        self.stop_blocked = outcome.blocked
        return outcome.reason if outcome.blocked else None
