"""Approval for tools that run outside the sandbox and for a tool's own readOnlyHint."""

from __future__ import annotations

import pytest

from agent.approval import ApprovalPolicy, CallFacts, Rule, Verdict
from tools.base import SideEffect


def mcp_call(read_only_hint: bool) -> CallFacts:
    return CallFacts("mcp__git__git_log", SideEffect.EXECUTE, sandboxed=False,
                     read_only_hint=read_only_hint)


@pytest.mark.parametrize(("mode", "hinted", "plain"), [
    ("read-only", Verdict.DENY, Verdict.DENY),
    ("ask", Verdict.ASK, Verdict.ASK),  # a server's claim is not a read under ask
    ("auto-edit", Verdict.ALLOW, Verdict.ASK),
    ("auto", Verdict.ALLOW, Verdict.ASK),  # outside the sandbox: auto asks
])
def test_policies(mode: str, hinted: Verdict, plain: Verdict) -> None:
    policy = ApprovalPolicy(mode)
    assert policy.decide(mcp_call(True)).verdict is hinted
    assert policy.decide(mcp_call(False)).verdict is plain


def test_rules_win_over_the_hint() -> None:
    policy = ApprovalPolicy("auto", [Rule.parse(Verdict.DENY, "tool=mcp__git__*"),
                                     Rule.parse(Verdict.ALLOW, "tool=mcp__time__*")])
    assert policy.decide(mcp_call(True)).verdict is Verdict.DENY
    time_call = CallFacts("mcp__time__now", SideEffect.EXECUTE, sandboxed=False)
    assert policy.decide(time_call).verdict is Verdict.ALLOW


def test_sandboxed_commands_are_unchanged() -> None:
    bash = CallFacts("bash", SideEffect.EXECUTE, command="ls")
    assert ApprovalPolicy("auto").decide(bash).verdict is Verdict.ALLOW
    assert ApprovalPolicy("auto-edit").decide(bash).verdict is Verdict.ASK
