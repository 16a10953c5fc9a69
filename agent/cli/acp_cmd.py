"""`tessera acp`: speak the Agent Client Protocol on stdin/stdout, for editors (Zed,
JetBrains IDEs, Neovim). Nothing else is written to stdout; the log is
`<data dir>/logs/acp.log`. See docs/editors.md."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser, command: str) -> None:
    parser.add_argument("--backend", help="replay:FILE, local or openai:URL (default: config)")
    parser.add_argument("--approval", choices=("read-only", "ask", "auto-edit", "auto"),
                        help="the mode new sessions start in (the editor can change it)")
    parser.add_argument("--effort", choices=("auto", "none", "high"), help="reasoning effort")
    parser.add_argument("--repo-map-tokens", type=int, default=1024, metavar="N",
                        help="size of the repository map in the system prompt (0: none)")
    parser.add_argument("--context-limit", type=int, default=None, metavar="TOKENS",
                        help="compact older turns at 80%% of this (default: the model's "
                             "context as the server states it, else 32768; 0: never)")


def run(args: argparse.Namespace) -> int:
    from agent import paths
    from agent.acp.server import AcpSettings
    from agent.acp.stdio import serve

    settings = AcpSettings(backend=args.backend, approval=args.approval, effort=args.effort,
                           repo_map_tokens=args.repo_map_tokens,
                           context_limit=args.context_limit)
    return serve(settings, paths.data_dir())
