"""A short human transcript of events, for `tessera run` without `--json`."""

from __future__ import annotations

import json
from typing import TextIO

from agent import events as ev

PREVIEW_LINES = 8


def _preview(text: str, lines: int = PREVIEW_LINES) -> str:
    parts = text.rstrip("\n").splitlines()
    shown = parts[:lines]
    if len(parts) > lines:
        shown.append(f"… ({len(parts) - lines} more lines)")
    return "\n".join("    " + line for line in shown)


def render_human(event: ev.Event, out: TextIO) -> None:
    match event:
        case ev.SessionStart(session_id=sid, task=task, repo=repo, backend=backend):
            out.write(f"session {sid} in {repo} ({backend})\ntask: {task}\n")
            if event.worktree:
                out.write(f"worktree: branch {event.worktree['branch']} from your tree at "
                          f"{event.worktree['origin']}; `tessera apply {sid}` brings the "
                          "changes back\n")
                for note in event.worktree.get("notes", []):
                    out.write(f"note: {note}\n")
        case ev.UserMessage(text=text, origin=origin):
            out.write(f"{'note to model' if origin == 'agent' else 'user'}: {text}\n")
        case ev.SettingsChange(backend=backend, effort=effort):
            changed = [f"{name} {value}" for name, value in
                       (("backend", backend), ("effort", effort)) if value is not None]
            out.write(f"settings: {', '.join(changed)} from the next step on\n")
        case ev.Effort(step=step, value=value, reason=reason, budget=budget):
            thinks = "" if budget is None else f" (thinking budget {budget})"
            out.write(f"\n— step {step} · effort {value}{thinks}: {reason}\n")
        case ev.Thinking(text=text):
            out.write("thinking:\n" + _preview(text, 4) + "\n")
        case ev.Text(text=text):
            out.write(text.rstrip("\n") + "\n")
        case ev.ToolCall(name=name, arguments=arguments):
            shown = arguments if isinstance(arguments, str) else json.dumps(arguments)
            out.write(f"→ {name} {shown[:200]}\n")
        case ev.Approval(name=name, decision=decision, reason=reason):
            out.write(f"  approval {decision} for {name}: {reason}\n")
        case ev.Checkpoint(ref=ref, label=label):
            out.write(f"  checkpoint {ref} ({label})\n")
        case ev.NetworkAccess(allowed=allowed, method=method, host=host, port=port,
                              reason=reason):
            verdict = "allowed" if allowed else "REFUSED"
            out.write(f"  network {verdict}: {method} {host}:{port} ({reason})\n")
        case ev.ToolResult(name=name, ok=ok, output=output):
            out.write(f"← {name} {'ok' if ok else 'FAILED'}\n{_preview(output)}\n")
        case ev.Finding(file=file, line=line, severity=severity, message=message,
                        suggestion=suggestion):
            out.write(f"{file}:{line}: {severity}: {message}\n")
            if suggestion:
                out.write("  suggested:\n" + _preview(suggestion, 6) + "\n")
        case ev.Error(message=message):
            out.write(f"error: {message}\n")
        case ev.Finish(status=status, summary=summary, steps=steps):
            out.write(f"\n[{status} after {steps} step(s)] {summary}\n")
        case _:
            pass
