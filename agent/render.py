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
            who = {"agent": "note to model", "hook": "hook context"}.get(origin, "user")
            out.write(f"{who}: {text}\n")
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
        case ev.Approval(name=name, decision=decision, reason=reason, preview=preview):
            out.write(f"  approval {decision} for {name}: {reason}\n")
            if isinstance(preview.get("diff"), str) and preview["diff"]:
                out.write(preview["diff"].rstrip("\n") + "\n")
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
        case ev.Todo(items=items):
            from agent.todo import render_todo

            out.write(render_todo(items) + "\n")
        case ev.Plan(text=text):
            out.write("plan:\n" + "\n".join("  " + line for line in text.splitlines()) + "\n")
        case ev.PlanDecision(decision=decision, approval=approval):
            policy = f" (approval {approval} from now on)" if approval else ""
            out.write(f"plan {decision}{policy}\n")
        case ev.Verify(command=command, ok=ok, exit_code=code, output_tail=tail,
                       duration_s=duration):
            outcome = "ok" if ok else f"FAILED ({'killed' if code is None else code})"
            out.write(f"  verify {command}: {outcome} in {duration:.1f} s\n")
            if not ok:
                out.write(_preview(tail) + "\n")
        case ev.VerifySuggestion(commands=commands, sources=sources):
            out.write(f"  no [verify] commands configured; {', '.join(sources)} suggest: "
                      f"{', '.join(commands)} (not run: add them to .tessera/config.toml)\n")
        case ev.Subagent(call_id=call_id, event=inner):
            _render_subagent(call_id, inner, out)
        case ev.Hook(event=hook_event, command=command, decision=decision, reason=reason,
                     tool=tool):
            target = f" ({tool})" if tool else ""
            why = f": {reason}" if reason else ""
            out.write(f"  hook {hook_event}{target} `{command}` {decision}{why}\n")
        case ev.EngineServing(backend=backend):
            warn = "warning: " if event.fell_back else ""
            for line in event.lines():
                out.write(f"{warn}{backend}: MoE layers served by {line}\n")
        case ev.Error(message=message):
            out.write(f"error: {message}\n")
        case ev.Finish(status=status, summary=summary, steps=steps):
            out.write(f"\n[{status} after {steps} step(s)] {summary}\n")
        case _:
            pass


def _render_subagent(call_id: str, inner: dict, out: TextIO) -> None:
    """A subagent's run, indented under its call: its calls and how it ended."""
    kind = inner.get("type")
    if kind == "tool_call":
        arguments = inner.get("arguments")
        shown = arguments if isinstance(arguments, str) else json.dumps(arguments)
        out.write(f"    [{call_id}] → {inner.get('name')} {shown[:160]}\n")
    elif kind == "tool_result" and not inner.get("ok"):
        out.write(f"    [{call_id}] ← {inner.get('name')} FAILED\n")
    elif kind == "finish":
        out.write(f"    [{call_id}] subagent {inner.get('status')} after "
                  f"{inner.get('steps')} step(s)\n")
