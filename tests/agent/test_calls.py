"""Running one step's calls: reads in parallel, results in the model's order, one
checkpoint before the first change, a tool that crashes reported, not raised."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import ClassVar

from agent import events as ev
from agent.approval import ApprovalPolicy
from agent.calls import CallRunner, prepare
from agent.context import build_system_context, instruction_files
from tools.base import SideEffect, Tool, ToolArgs, ToolContext, ToolResult


class WaitArgs(ToolArgs):
    name: str


class MeetAtBarrier(Tool):
    """A read that only succeeds when another call is running at the same moment."""

    name = "meet"
    description = "wait for a partner call"
    Args: ClassVar[type[ToolArgs]] = WaitArgs
    side_effect = SideEffect.READ

    def __init__(self, parties: int) -> None:
        self.barrier = threading.Barrier(parties, timeout=5)

    def run(self, args: WaitArgs, ctx: ToolContext) -> ToolResult:
        self.barrier.wait()
        return ToolResult(True, f"met {args.name}")


class Record(Tool):
    name = "record"
    description = "append a line to a log"
    Args: ClassVar[type[ToolArgs]] = WaitArgs
    side_effect = SideEffect.WRITE

    def run(self, args: WaitArgs, ctx: ToolContext) -> ToolResult:
        if args.name == "crash":
            raise RuntimeError("disk on fire")
        with (ctx.repo / "log.txt").open("a") as fh:
            fh.write(args.name + "\n")
        return ToolResult(True, "recorded")


def run_calls(tmp_path: Path, tools: list[Tool], calls: list[tuple[str, dict]]) -> tuple:
    emitted: list[ev.Event] = []
    taken: list[str] = []

    def checkpointer(repo: Path, label: str) -> str:
        taken.append(label)
        return f"cp{len(taken)}"

    runner = CallRunner(tmp_path, {t.name: t for t in tools}, ToolContext(tmp_path),
                        ApprovalPolicy("auto"), emitted.append, checkpointer=checkpointer)
    prepared = [prepare(ev.ToolCall(1, f"c{i}", name, args), runner.tools)
                for i, (name, args) in enumerate(calls)]
    results = asyncio.run(runner.run_step(1, prepared))
    return results, emitted, taken


def test_reads_run_in_parallel_and_keep_the_model_order(tmp_path: Path) -> None:
    meet = MeetAtBarrier(3)
    results, _, taken = run_calls(
        tmp_path, [meet], [("meet", {"name": n}) for n in ("a", "b", "c")]
    )
    assert [r.output for r in results] == ["met a", "met b", "met c"]
    assert taken == []  # reads change nothing: no checkpoint


def test_writes_are_ordered_after_one_checkpoint_and_crashes_are_results(tmp_path: Path) -> None:
    calls = [("record", {"name": "one"}), ("record", {"name": "crash"}),
             ("record", {"name": "two"})]
    results, emitted, taken = run_calls(tmp_path, [Record()], calls)
    assert taken == ["before step 1"]
    assert [type(e).__name__ for e in emitted][:4] == [
        "Approval", "Approval", "Approval", "Checkpoint"]
    assert (tmp_path / "log.txt").read_text() == "one\ntwo\n"
    assert [r.ok for r in results] == [True, False, True]
    assert "RuntimeError: disk on fire" in results[1].output


def test_instruction_files_from_the_root_down_to_the_working_directory(
    tmp_path: Path, isolated_home: Path
) -> None:
    repo = tmp_path / "r"
    (repo / "pkg" / "sub").mkdir(parents=True)
    (repo / "AGENTS.md").write_text("root rules")
    (repo / "pkg" / "sub" / "AGENTS.md").write_text("sub rules")
    (repo / "pkg" / "AGENTS.md").write_text("pkg rules")
    (repo / "elsewhere").mkdir()
    (repo / "elsewhere" / "AGENTS.md").write_text("not on the path")
    found = instruction_files(repo, repo / "pkg" / "sub")
    assert found == [repo / "AGENTS.md", repo / "pkg" / "AGENTS.md",
                     repo / "pkg" / "sub" / "AGENTS.md"]
    prompt = build_system_context(repo, repo / "pkg" / "sub").prompt
    assert prompt.index("root rules") < prompt.index("pkg rules") < prompt.index("sub rules")
    assert "not on the path" not in prompt


class Exclusive(Tool):
    """A read that must never overlap another call of itself."""

    name = "exclusive"
    description = "a read with shared state"
    Args: ClassVar[type[ToolArgs]] = WaitArgs
    side_effect = SideEffect.READ
    parallel_safe = False

    def __init__(self) -> None:
        self.running = 0
        self.overlaps = 0
        self.guard = threading.Lock()

    def run(self, args: WaitArgs, ctx: ToolContext) -> ToolResult:
        with self.guard:
            self.running += 1
            self.overlaps += self.running > 1
        threading.Event().wait(0.05)
        with self.guard:
            self.running -= 1
        return ToolResult(True, args.name)


def test_reads_that_are_not_parallel_safe_run_alone(tmp_path: Path) -> None:
    tool = Exclusive()
    results, _, _ = run_calls(tmp_path, [tool], [("exclusive", {"name": n}) for n in "abcd"])
    assert [r.output for r in results] == list("abcd")
    assert tool.overlaps == 0
