"""Wall time of one `screenshot` tool call, as the model sees it.

    python -m bench.screenshot_bench [--runs N]

Three cases, interleaved: a repository HTML file (viewport), the same file full page,
and a page on a loopback http server. Each call starts a fresh browser, so this is
mostly Chromium's start-up; the figure to watch is the median. Issue 24's bar: the
sandboxed, request-checked browser stays within 1.5x the unsandboxed one.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import statistics
import tempfile
import threading
from pathlib import Path

from bench.timing import interleaved, summary
from tools.base import ToolContext
from tools.screenshot import Screenshot

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tessera-bench-") as scratch:
        repo = Path(scratch) / "repo"
        repo.mkdir()
        (repo / "page.html").write_text(PAGE)
        (repo / "green.svg").write_text(GREEN_SVG)
        ctx = ToolContext(repo=repo, data_dir=Path(scratch) / "data")
        handler = functools.partial(_QuietHandler, directory=str(repo))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/page.html"

        def shot(target: str, full_page: bool = False) -> None:
            arguments = {"target": target, "width": 400, "height": 300, "full_page": full_page}
            result = Screenshot().invoke(arguments, ctx)
            assert result.ok, result.text

        try:
            samples = interleaved(
                {
                    "repository file": functools.partial(shot, "page.html"),
                    "repository file, full page": functools.partial(shot, "page.html", True),
                    "loopback server": functools.partial(shot, url),
                },
                runs=args.runs,
                warmup=1,
            )
        finally:
            server.shutdown()
            server.server_close()
    for name, values in samples.items():
        print(f"{name:<28} {summary(values)}")
    overall = statistics.median([v for values in samples.values() for v in values])
    print(f"all cases: median {overall * 1000:.1f} ms over {sum(map(len, samples.values()))} calls")


if __name__ == "__main__":
    main()
