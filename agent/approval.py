"""Approval: which tool calls run without asking, which ask, which are refused.

Policies, tight to loose:
- `read-only`: reads run; writes and commands are denied (rules cannot loosen this).
- `ask`: reads run; writes and commands ask.
- `auto-edit`: reads and edits run; commands ask.
- `auto`: everything runs, commands because the sandbox confines them; when the sandbox
  is `full-access` nothing confines them, so commands ask again. A tool that runs outside
  the sandbox (an MCP server's, `Tool.sandboxed` false) asks too.
Network tools (web_fetch) are approved like commands, but in `auto` the network policy
(sandbox.network, allow_domains) is what confines them, whatever the sandbox mode.

A tool's own `readOnlyHint` (MCP) makes it a read under `auto-edit` and `auto` only.

Rules refine a policy: a deny rule always wins; an allow rule turns "ask" into "allow".
A rule names any of a tool (glob on the name), a command prefix (word-aligned), and a
path glob (repository-relative); all that it names must match. "Always allow for this
session" adds an allow rule. Headless runs have no one to ask: "ask" becomes "deny",
with a message that tells the model (and the reader of the log) how to allow it.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from tools.base import SideEffect
from tools.sandbox.policy import SandboxMode

POLICIES = ("read-only", "ask", "auto-edit", "auto")

# Argument names tools use for the command they run and the paths they touch.
COMMAND_FIELDS = ("command", "cmd")
PATH_FIELDS = ("path", "file_path", "paths", "files")


class Verdict(StrEnum):
    ALLOW = "allow"
    ASK = "ask"
    DENY = "deny"


class RuleError(ValueError):
    pass


@dataclass(frozen=True)
class Rule:
    action: Verdict  # ALLOW or DENY
    tool: str | None = None
    command_prefix: str | None = None
    path_glob: str | None = None

    @classmethod
    def parse(cls, action: Verdict, spec: str) -> Rule:
        """`tool=NAME,command=PREFIX,path=GLOB` (any non-empty subset); a bare word is a tool."""
        parts: dict[str, str] = {}
        for piece in filter(None, (p.strip() for p in spec.split(","))):
            key, sep, value = piece.partition("=")
            if not sep:
                key, value = "tool", piece
            key = key.strip()
            if key not in ("tool", "command", "path") or not value.strip():
                raise RuleError(
                    f"bad rule {spec!r}: expected tool=NAME, command=PREFIX and/or path=GLOB"
                )
            parts[key] = value.strip()
        if not parts:
            raise RuleError("empty rule")
        return cls(action, parts.get("tool"), parts.get("command"), parts.get("path"))

    def matches(self, call: CallFacts) -> bool:
        if self.tool is not None and not fnmatch.fnmatchcase(call.tool, self.tool):
            return False
        if self.command_prefix is not None and not (
            call.command is not None and self._command_matches(call.command)
        ):
            return False
        return self.path_glob is None or (
            bool(call.paths) and all(_path_matches(p, self.path_glob) for p in call.paths)
        )

    def _command_matches(self, command: str) -> bool:
        # An allow rule covers only a simple command: `pytest && rm -rf ~` is not `pytest`.
        # A deny rule covers any part of a compound command.
        segments = _segments(command)
        if self.action is Verdict.ALLOW:
            return len(segments) == 1 and _has_word_prefix(segments[0], self.command_prefix or "")
        return any(_has_word_prefix(s, self.command_prefix or "") for s in segments)

    def describe(self) -> str:
        bits = [f"tool={self.tool}"] if self.tool else []
        if self.command_prefix:
            bits.append(f"command={self.command_prefix}")
        if self.path_glob:
            bits.append(f"path={self.path_glob}")
        return f"{self.action} rule {','.join(bits)}"


@dataclass(frozen=True)
class CallFacts:
    """What approval looks at: the tool, its side effect, its command and its paths."""

    tool: str
    side_effect: SideEffect
    command: str | None = None
    paths: tuple[str, ...] = ()
    sandboxed: bool = True  # tools.base.Tool.sandboxed
    read_only_hint: bool = False  # tools.base.Tool.read_only_hint

    @classmethod
    def from_call(
        cls, tool: str, side_effect: SideEffect, args: dict[str, Any], repo: Path,
        *, sandboxed: bool = True, read_only_hint: bool = False,
    ) -> CallFacts:
        command = next((args[k] for k in COMMAND_FIELDS if isinstance(args.get(k), str)), None)
        paths: list[str] = []
        for key in PATH_FIELDS:
            value = args.get(key)
            values = value if isinstance(value, list) else [value]
            paths.extend(_repo_relative(v, repo) for v in values if isinstance(v, str))
        return cls(tool, side_effect, command, tuple(paths), sandboxed, read_only_hint)


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str


@dataclass
class ApprovalPolicy:
    mode: str = "ask"
    rules: list[Rule] = field(default_factory=list)
    sandbox_mode: SandboxMode = SandboxMode.WORKSPACE_WRITE
    session_rules: list[Rule] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.mode not in POLICIES:
            raise ValueError(f"approval policy must be one of {', '.join(POLICIES)}")

    def decide(self, call: CallFacts) -> Decision:
        for rule in self.rules:
            if rule.action is Verdict.DENY and rule.matches(call):
                return Decision(Verdict.DENY, f"denied by {rule.describe()}")
        base = self._base(call)
        if base.verdict is not Verdict.ASK:
            return base
        for rule in (*self.rules, *self.session_rules):
            if rule.action is Verdict.ALLOW and rule.matches(call):
                return Decision(Verdict.ALLOW, f"allowed by {rule.describe()}")
        return base

    def _base(self, call: CallFacts) -> Decision:
        effect = call.side_effect
        if effect is SideEffect.READ:
            return Decision(Verdict.ALLOW, "reads are always allowed")
        if self.mode == "read-only":
            return Decision(Verdict.DENY, f"the read-only policy refuses {effect} tools")
        if self.mode == "ask":
            return Decision(Verdict.ASK, f"the ask policy asks before every {effect}")
        if effect is SideEffect.WRITE:
            return Decision(Verdict.ALLOW, f"the {self.mode} policy allows edits")
        if call.read_only_hint:
            return Decision(Verdict.ALLOW, f"the tool says it only reads (readOnlyHint), "
                                           f"which the {self.mode} policy takes as a read")
        if self.mode == "auto-edit":
            what = "network access" if effect is SideEffect.NETWORK else "commands"
            return Decision(Verdict.ASK, f"the auto-edit policy asks before {what}")
        if effect is SideEffect.NETWORK:
            return Decision(Verdict.ALLOW, "the auto policy fetches within the network policy")
        if not call.sandboxed:
            return Decision(Verdict.ASK, "the tool runs outside the sandbox (an MCP server's), "
                                         "so the auto policy asks")
        if self.sandbox_mode is SandboxMode.FULL_ACCESS:
            return Decision(Verdict.ASK, "the sandbox is full-access, so commands ask")
        return Decision(Verdict.ALLOW, "the auto policy runs commands in the sandbox")

    def allow_for_session(self, call: CallFacts) -> Rule:
        """Remember "always allow": the same command, or the tool, for the rest of the session."""
        rule = Rule(Verdict.ALLOW, tool=call.tool, command_prefix=call.command)
        self.session_rules.append(rule)
        return rule


def headless_denial(call: CallFacts, decision: Decision, mode: str) -> str:
    what = f"`{call.command}`" if call.command else f"{call.tool}"
    return (
        f"denied: {decision.reason}, and this run is headless (no one to ask), so {what} "
        f"was not run. Continue without it, or finish and say what needs approval. "
        f"(A user can allow it with --approval auto-edit/auto or --allow rules; "
        f"policy now: {mode}.)"
    )


_SHELL_SEPARATORS = re.compile(r"\|\||&&|[;|&\n<>]|\$\(|`")


def _segments(command: str) -> list[str]:
    """The simple commands of a compound one (split on ; && || | & newlines, substitutions)."""
    return [s.strip() for s in _SHELL_SEPARATORS.split(command) if s.strip()] or [""]


def _has_word_prefix(command: str, prefix: str) -> bool:
    try:
        words, want = shlex.split(command), shlex.split(prefix)
    except ValueError:
        words, want = command.split(), prefix.split()
    return bool(want) and words[: len(want)] == want


def _path_matches(path: str, glob: str) -> bool:
    return fnmatch.fnmatchcase(path, glob) or (
        glob.endswith("/**") and (path + "/").startswith(glob[:-2])
    )


def _repo_relative(raw: str, repo: Path) -> str:
    path = Path(raw)
    if path.is_absolute():
        try:
            return path.resolve().relative_to(repo.resolve()).as_posix()
        except ValueError:
            return path.as_posix()
    return Path(*[p for p in path.parts if p != "."]).as_posix() if path.parts else "."
