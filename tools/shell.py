"""The `bash` tool: one shell command, run at the repository root inside the sandbox.

With `background=true` the command keeps running (a dev server, a watcher) and the call
returns at once with its id; `bash_output` and `bash_kill` (tools/background_tools.py)
read and stop it.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from tools.background_tools import start_background
from tools.base import SideEffect, Tool, ToolArgs, ToolContext, ToolError, ToolResult
from tools.sandbox.runner import CommandResult, run_command


class BashArgs(ToolArgs):
    command: str = Field(min_length=1, description="The command line, run with `bash -c`.")
    timeout: float | None = Field(
        default=None,
        gt=0,
        description="Seconds before the command is killed (default and maximum: the "
        "configured sandbox timeout).",
    )
    background: bool = Field(
        default=False,
        description="Start it and return at once with an id (for servers and watchers); read "
        "its output with bash_output, stop it with bash_kill. No timeout; it ends with the "
        "session.",
    )


def _footer(result: CommandResult, timeout_s: float) -> str:
    lines = []
    if result.timed_out:
        lines.append(f"[timed out after {timeout_s:g} s; the command and its children were killed]")
    elif result.killed_reason and result.exit_code is None:
        lines.append(f"[killed: {result.killed_reason}]")
    elif result.killed_reason:
        lines.append(f"[{result.killed_reason}]")
    if result.truncated:
        lines.append(
            f"[output truncated: {result.output_bytes} bytes written, head and tail shown; "
            "redirect to a file or filter with grep/head/tail to see more]"
        )
    if not result.sandboxed:
        lines.append("[sandbox off: " + "; ".join(result.notes or ["no isolation"]) + "]")
    lines.append(f"[exit code: {'none' if result.exit_code is None else result.exit_code}]")
    return "\n".join(lines)


class Bash(Tool):
    name = "bash"
    description = (
        "Run a shell command with bash at the repository root and return its combined "
        "stdout and stderr and exit code. Runs in a sandbox: the repository is the only "
        "writable place (its .git is read-only), /tmp is private and discarded, the network "
        "is off unless the user enabled it, and stdin is empty (no interactive programs). "
        "Long output keeps its head and tail only. background=true starts a server or "
        "watcher and returns at once; it shares the session's loopback network with later "
        "commands and the screenshot tool."
    )
    Args: ClassVar[type[ToolArgs]] = BashArgs
    side_effect = SideEffect.EXECUTE

    def run(self, args: BashArgs, ctx: ToolContext) -> ToolResult:
        if args.background:
            return start_background(args.command, ctx)
        policy = ctx.session.command_policy(ctx.sandbox) if ctx.session else ctx.sandbox
        # The model may ask for less time than the user's setting, never more.
        if args.timeout is not None and args.timeout < policy.timeout_s:
            policy = policy.with_(timeout_s=args.timeout)
        try:
            result = run_command(args.command, repo=ctx.repo, policy=policy)
        except (OSError, ValueError) as exc:
            raise ToolError(f"could not run the command: {exc}") from exc
        text = result.output
        if text and not text.endswith("\n"):
            text += "\n"
        text += _footer(result, policy.timeout_s)
        return ToolResult(
            ok=result.exit_code == 0,
            text=text,
            data={
                "exit_code": result.exit_code,
                "timed_out": result.timed_out,
                "truncated": result.truncated,
                "killed_reason": result.killed_reason,
                "duration_s": round(result.duration_s, 3),
                "sandboxed": result.sandboxed,
                "layers": result.layers,
                "notes": result.notes,
                "output_bytes": result.output_bytes,
            },
        )
