"""`bash_output` and `bash_kill`: the model's handle on what `bash(background=true)` started.

The processes live in the session's sandbox (tools/sandbox/background.py, reached through
`ToolContext.session`); these tools only read and stop them. `exit_notes` is what the
agent appends to the next step's results when one ends on its own.
"""

from __future__ import annotations

import time

from pydantic import Field

from tools.base import SideEffect, Tool, ToolArgs, ToolContext, ToolError, ToolResult
from tools.sandbox.background import BackgroundProcess, listening_ports
from tools.sandbox.session import SessionSandbox

# How long `bash(background=true)` watches a fresh process before answering, so a command
# that fails at once (a typo, a port in use) says so in the same result.
START_WATCH_S = 0.5
NOTE_OUTPUT_BYTES = 1024


def _session(ctx: ToolContext) -> SessionSandbox:
    if ctx.session is None:
        raise ToolError("background processes need a session (none is running here)")
    return ctx.session


def _find(ctx: ToolContext, number: int) -> tuple[SessionSandbox, BackgroundProcess]:
    session = _session(ctx)
    try:
        return session, session.processes.get(number)
    except KeyError as exc:
        raise ToolError(str(exc.args[0])) from exc


def _summary(process: BackgroundProcess) -> dict[str, object]:
    ports = listening_ports(process.proc.pid) if process.running else []
    return {"id": process.id, "command": process.command, "status": process.status(),
            "exit_code": process.exit_code, "ports": ports, "pid": process.proc.pid,
            "output_bytes": process.written}  # fmt: skip


def start_background(command: str, ctx: ToolContext) -> ToolResult:
    session = _session(ctx)
    policy = session.command_policy(ctx.sandbox)
    try:
        process = session.processes.start(command, repo=ctx.repo, policy=policy)
    except (OSError, ValueError) as exc:
        raise ToolError(f"could not start the command: {exc}") from exc
    deadline = time.monotonic() + START_WATCH_S
    while process.running and time.monotonic() < deadline:
        time.sleep(0.02)
    text, _, _, _ = session.processes.output(process.id, 0, ctx.sandbox.output_limit)
    data = _summary(process)
    if not process.running:
        process.reported = True
        return ToolResult(ok=False, text=f"{text}[background process {process.id} ended at once: "
                          f"{process.status()}]", data=data)  # fmt: skip
    lines = [f"started background process {process.id}: {command}"]
    if text:
        lines.append(f"output so far:\n{text.rstrip()}")
    lines.append(f"read its output with bash_output(id={process.id}); stop it with "
                 f"bash_kill(id={process.id})")  # fmt: skip
    if policy.session_netns:
        lines.append("it shares the session's loopback network (127.0.0.1) with later commands "
                     "and the screenshot tool")  # fmt: skip
    for note in session.notes:
        lines.append(f"note: {note}")
    return ToolResult(ok=True, text="\n".join(lines), data=data)


class BashOutput(Tool):
    name = "bash_output"
    description = (
        "New output of a background process started with bash(background=true), and whether "
        "it still runs (with the ports it listens on). `since` rereads from a byte offset."
    )
    side_effect = SideEffect.READ

    class Args(ToolArgs):
        id: int = Field(ge=1, description="the id bash(background=true) returned")
        since: int | None = Field(
            default=None, ge=0,
            description="byte offset to read from (default: where the last read ended)",
        )  # fmt: skip

    def run(self, args: Args, ctx: ToolContext) -> ToolResult:
        session, process = _find(ctx, args.id)
        limit = ctx.sandbox.output_limit
        text, start, end, truncated = session.processes.output(args.id, args.since, limit)
        data = _summary(process)
        data.update(since=start, next=end, truncated=truncated)
        if not process.running:
            process.reported = True
        footer = f"[process {process.id}: {process.status()}"
        if data["ports"]:
            footer += f", listening on {', '.join(map(str, data['ports']))}"  # type: ignore[arg-type]
        footer += f"; bytes {start}-{end}" + (", head and tail shown" if truncated else "") + "]"
        body = text if not text or text.endswith("\n") else text + "\n"
        return ToolResult(ok=True, text=body + footer, data=data)


class BashKill(Tool):
    name = "bash_kill"
    description = "Stop a background process and everything it started."
    side_effect = SideEffect.EXECUTE

    class Args(ToolArgs):
        id: int = Field(ge=1, description="the id bash(background=true) returned")

    def run(self, args: Args, ctx: ToolContext) -> ToolResult:
        session, process = _find(ctx, args.id)
        session.processes.kill(process.id)
        text, _, _, _ = session.processes.output(args.id, None, ctx.sandbox.output_limit)
        tail = f"last output:\n{text.rstrip()}\n" if text.strip() else ""
        return ToolResult(ok=True, text=f"{tail}[process {process.id}: {process.status()}]",
                          data=_summary(process))  # fmt: skip


def describe_processes(session: SessionSandbox) -> list[dict[str, object]]:
    """Every background process of the session, for `/ps`: id, command, status, ports..."""
    now = time.monotonic()
    described = []
    for process in session.processes.list():
        summary = _summary(process)
        summary["uptime_s"] = round((process.ended or now) - process.started, 1)
        described.append(summary)
    return described


def exit_notes(session: SessionSandbox) -> list[str]:
    """One line per background process that ended on its own since the last call."""
    notes = []
    for process in session.processes.take_exited():
        text, _, _, _ = session.processes.output(process.id, None, NOTE_OUTPUT_BYTES)
        note = f"[background process {process.id} ({process.command}) {process.status()}"
        notes.append(note + (f"; its last output:\n{text.rstrip()}]" if text.strip() else "]"))
    return notes
