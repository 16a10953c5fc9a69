"""Approval policies and rules, decided from a call's side effect, command and paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.approval import POLICIES, ApprovalPolicy, CallFacts, Rule, RuleError, Verdict
from tools.base import SideEffect
from tools.sandbox.policy import SandboxMode

REPO = Path("/repo")
READ = CallFacts("read_file", SideEffect.READ, paths=("a.py",))
EDIT = CallFacts("edit_file", SideEffect.WRITE, paths=("src/a.py",))
RUN = CallFacts("shell", SideEffect.EXECUTE, command="pytest -q")


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("read-only", ("allow", "deny", "deny")),
        ("ask", ("allow", "ask", "ask")),
        ("auto-edit", ("allow", "allow", "ask")),
        ("auto", ("allow", "allow", "allow")),
    ],
)
def test_each_policy_by_side_effect(mode: str, expected: tuple[str, str, str]) -> None:
    policy = ApprovalPolicy(mode)
    assert tuple(policy.decide(c).verdict for c in (READ, EDIT, RUN)) == expected


def test_network_tools_ask_by_default_and_run_under_auto_whatever_the_sandbox() -> None:
    fetch = CallFacts("web_fetch", SideEffect.NETWORK)
    verdicts = {mode: ApprovalPolicy(mode).decide(fetch).verdict for mode in POLICIES}
    assert verdicts == {"read-only": "deny", "ask": "ask", "auto-edit": "ask", "auto": "allow"}
    assert "network access" in ApprovalPolicy("auto-edit").decide(fetch).reason
    full = ApprovalPolicy("auto", sandbox_mode=SandboxMode.FULL_ACCESS)
    assert full.decide(fetch).verdict is Verdict.ALLOW  # the network policy confines it
    deny = ApprovalPolicy("auto", [Rule.parse(Verdict.DENY, "tool=web_fetch")])
    assert deny.decide(fetch).verdict is Verdict.DENY


def test_auto_asks_for_commands_when_nothing_sandboxes_them() -> None:
    policy = ApprovalPolicy("auto", sandbox_mode=SandboxMode.FULL_ACCESS)
    assert policy.decide(RUN).verdict is Verdict.ASK
    assert policy.decide(EDIT).verdict is Verdict.ALLOW


def test_allow_rules_turn_ask_into_allow_but_never_loosen_read_only() -> None:
    rules = [Rule.parse(Verdict.ALLOW, "command=pytest"), Rule.parse(Verdict.ALLOW, "path=src/**")]
    assert ApprovalPolicy("ask", rules).decide(RUN).verdict is Verdict.ALLOW
    assert ApprovalPolicy("ask", rules).decide(EDIT).verdict is Verdict.ALLOW
    other = CallFacts("edit_file", SideEffect.WRITE, paths=("setup.py",))
    assert ApprovalPolicy("ask", rules).decide(other).verdict is Verdict.ASK
    assert ApprovalPolicy("read-only", rules).decide(RUN).verdict is Verdict.DENY


def test_allow_prefix_does_not_cover_compound_commands_but_deny_does() -> None:
    allow = ApprovalPolicy("ask", [Rule.parse(Verdict.ALLOW, "command=pytest")])
    sneaky = CallFacts("shell", SideEffect.EXECUTE, command="pytest && rm -rf ~")
    assert allow.decide(sneaky).verdict is Verdict.ASK
    redirect = CallFacts("shell", SideEffect.EXECUTE, command="pytest > /tmp/x")
    assert allow.decide(redirect).verdict is Verdict.ASK
    prefix_of_word = CallFacts("shell", SideEffect.EXECUTE, command="pytestevil")
    assert allow.decide(prefix_of_word).verdict is Verdict.ASK
    deny = ApprovalPolicy("auto", [Rule.parse(Verdict.DENY, "command=git push")])
    pushing = CallFacts("shell", SideEffect.EXECUTE, command="make && git push origin main")
    decision = deny.decide(pushing)
    assert decision.verdict is Verdict.DENY and "git push" in decision.reason


def test_deny_rule_wins_over_everything() -> None:
    policy = ApprovalPolicy(
        "auto", [Rule.parse(Verdict.ALLOW, "edit_file"), Rule.parse(Verdict.DENY, "path=*.lock")]
    )
    lock = CallFacts("edit_file", SideEffect.WRITE, paths=("poetry.lock",))
    assert policy.decide(lock).verdict is Verdict.DENY
    assert policy.decide(EDIT).verdict is Verdict.ALLOW


def test_session_allow_remembers_the_command() -> None:
    policy = ApprovalPolicy("ask")
    assert policy.decide(RUN).verdict is Verdict.ASK
    policy.allow_for_session(RUN)
    assert policy.decide(RUN).verdict is Verdict.ALLOW
    assert policy.decide(CallFacts("shell", SideEffect.EXECUTE, command="rm x")).verdict == "ask"


def test_facts_from_arguments_are_repo_relative() -> None:
    facts = CallFacts.from_call(
        "edit_file", SideEffect.WRITE, {"path": "/repo/./src/a.py", "old_string": "x"}, REPO
    )
    assert facts.paths == ("src/a.py",)
    facts = CallFacts.from_call("shell", SideEffect.EXECUTE, {"command": "ls"}, REPO)
    assert (facts.command, facts.paths) == ("ls", ())


def test_bad_rules_are_refused() -> None:
    with pytest.raises(RuleError):
        Rule.parse(Verdict.ALLOW, "colour=red")
    with pytest.raises(RuleError):
        Rule.parse(Verdict.ALLOW, " , ")
    with pytest.raises(ValueError, match="approval policy"):
        ApprovalPolicy("yolo")
