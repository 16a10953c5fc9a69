"""Wall time of one `screenshot` tool call, as the model sees it.

    python -m bench.screenshot_bench [--runs N] [--against REV]

Three cases: a repository HTML file (viewport), the same file full page, and a page on
a loopback http server. Each call starts a fresh browser, so this is mostly Chromium's
start-up; the figure to watch is the median. `--against REV` loads `tools/screenshot.py`
and `tools/devtools.py` as they were at git revision REV beside today's and interleaves
the two (this machine is noisy; interleaving makes the ratio fair). Issue 24's bar: the
sandboxed, request-checked browser within 1.5x the unsandboxed one (51a6e94).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import statistics
import subprocess
import sys
import tempfile
import threading
import types
from collections.abc import Callable
from pathlib import Path

from bench.timing import interleaved, summary
from tools.base import Tool, ToolContext
from tools.screenshot import Screenshot

ROOT = Path(__file__).resolve().parent.parent
RATIO_BAR = 1.5
PAGE = (
    "<!doctype html><body style='margin:0;background:#2050c0'>"
    "<img src='green.svg' width=100 height=100>"
    "<div style='height:1200px;background:#00a000'></div></body>"
)
GREEN_SVG = (
    "<svg xmlns='http://www.w3.org/2000/svg' width='100' height='100'>"
    "<rect width='100' height='100' fill='#00c000'/></svg>"
)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a browser that closes its connection early is no news


def screenshot_tool_at(rev: str) -> Tool:
    """`Screenshot()` as tools/screenshot.py and tools/devtools.py were at `rev`."""

    def source(path: str) -> str:
        return subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:{path}"],
                              check=True, capture_output=True, text=True).stdout  # fmt: skip

    def load(name: str, text: str) -> types.ModuleType:
        module = types.ModuleType(name)
        sys.modules[name] = module
        exec(compile(text, f"{rev}:{name}", "exec"), module.__dict__)
        return module

    load("_bench_old_devtools", source("tools/devtools.py"))
    old = source("tools/screenshot.py").replace("from tools.devtools ", "from _bench_old_devtools ")
    return load("_bench_old_screenshot", old).Screenshot()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--against", metavar="REV", help="also time the tool as it was at REV")
    args = parser.parse_args()
    tools: dict[str, Tool] = {"now": Screenshot()}
    if args.against:
        tools[args.against] = screenshot_tool_at(args.against)
    with tempfile.TemporaryDirectory(prefix="tessera-bench-") as scratch:
        repo = Path(scratch) / "repo"
        repo.mkdir()
        (repo / "page.html").write_text(PAGE)
        (repo / "green.svg").write_text(GREEN_SVG)
        (repo / "favicon.ico").write_bytes(b"")
        ctx = ToolContext(repo=repo, data_dir=Path(scratch) / "data")
        handler = functools.partial(_QuietHandler, directory=str(repo))
        server = _QuietServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/page.html"

        def shot(tool: Tool, target: str, full_page: bool = False) -> None:
            arguments = {"target": target, "width": 400, "height": 300, "full_page": full_page}
            result = tool.invoke(arguments, ctx)
            assert result.ok, result.text

        cases: dict[str, Callable[[], object]] = {}
        for label, tool in tools.items():
            cases[f"{label}: repository file"] = functools.partial(shot, tool, "page.html")
            cases[f"{label}: full page"] = functools.partial(shot, tool, "page.html", True)
            cases[f"{label}: loopback server"] = functools.partial(shot, tool, url)
        try:
            samples = interleaved(cases, runs=args.runs, warmup=1)
        finally:
            server.shutdown()
            server.server_close()
    for name, values in samples.items():
        print(f"{name:<32} {summary(values)}")
    medians = {}
    for label in tools:
        pooled = [v for name, values in samples.items() if name.startswith(f"{label}:")
                  for v in values]  # fmt: skip
        medians[label] = statistics.median(pooled)
        print(f"{label}: median {medians[label] * 1000:.1f} ms over {len(pooled)} calls")
    if args.against:
        ratio = medians["now"] / medians[args.against]
        verdict = "within" if ratio <= RATIO_BAR else "OVER"
        print(f"ratio now/{args.against}: {ratio:.2f} ({verdict} the {RATIO_BAR}x bar)")


if __name__ == "__main__":
    main()
