"""`tessera mcp list|add|remove|test`: the MCP servers of your config (docs/mcp.md).

`add` and `remove` edit your own config file (~/.config/tessera/config.toml) only: a
repository's servers are its `.tessera/config.toml`'s, started once you trust it.
"""

from __future__ import annotations

import argparse
import json
import re
import tomllib
from pathlib import Path


def configure(parser: argparse.ArgumentParser, command: str) -> None:
    parser.add_argument("--repo", type=Path, default=Path.cwd(),
                        help="repository whose trusted config adds servers (default: cwd)")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", help="the configured servers (nothing is started)")
    add = actions.add_parser(
        "add", help="add a server to your config: NAME --url URL, or NAME -- COMMAND [ARGS...]")
    add.add_argument("name")
    _add_options(add)
    # Options may follow NAME too (`add git --env K=V -- CMD`): REMAINDER keeps them, and
    # _add parses what precedes `--` with the same options.
    add.add_argument("rest", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARGS...]",
                     help="the command that runs a stdio server, and its arguments")
    remove = actions.add_parser("remove", help="remove a server from your config")
    remove.add_argument("name")
    test = actions.add_parser("test", help="start a server, list its tools, stop it")
    test.add_argument("name")


def _add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="a Streamable HTTP server's address")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="a variable for a stdio server (repeatable)")
    parser.add_argument("--env-var", action="append", default=[], metavar="NAME",
                        help="pass this variable of your environment to the server (repeatable)")
    parser.add_argument("--bearer-token-env-var", metavar="NAME",
                        help="an HTTP server's bearer token comes from this variable")
    parser.add_argument("--startup-timeout", type=float, help="seconds (default 10)")
    parser.add_argument("--tool-timeout", type=float, help="seconds (default 60)")


def run(args: argparse.Namespace) -> int:
    handler = {"list": _list, "add": _add, "remove": _remove, "test": _test}[args.action]
    return handler(args)


def _list(args: argparse.Namespace) -> int:
    from agent.mcp_servers import configured_servers

    servers, warnings = configured_servers(args.repo.resolve())
    if not servers:
        print("no MCP servers configured (add one: tessera mcp add NAME -- COMMAND ARGS...)")
    for server in servers:
        state = "enabled" if server.enabled else "disabled"
        print(f"{server.name:<16} {server.transport:<5} {state:<8} {server.target()}")
        print(f"{'':<16} from {server.source}")
    for warning in warnings:
        print(f"warning: {warning}")
    return 0


def _test(args: argparse.Namespace) -> int:
    from agent import paths
    from agent.mcp_servers import configured_servers
    from tools.mcp.connection import McpServerError
    from tools.mcp.hub import McpHub

    servers, warnings = configured_servers(args.repo.resolve())
    for warning in warnings:
        print(f"warning: {warning}")
    chosen = [s for s in servers if s.name == args.name]
    if not chosen:
        print(f"tessera mcp test: no MCP server named {args.name!r} "
              f"(configured: {', '.join(s.name for s in servers) or 'none'})")
        return 2
    hub = McpHub(chosen, log_dir=paths.data_dir() / "logs")
    try:
        hub.start(args.name)
    except McpServerError as exc:
        print(f"failed: {exc}")
        log = hub.status()[0].log
        if log:
            print(f"its stderr: {log}")
        return 1
    finally:
        status = hub.status()[0]
        hub.close()
    connection = hub.connections[args.name]
    print(f"{args.name}: started ({status.transport}, protocol {connection.protocol}); "
          f"{len(status.tools)} tool(s) for the model:")
    for tool in hub.tools():
        hint = " (readOnlyHint)" if tool.read_only_hint else ""
        print(f"  {tool.name}{hint}")
    for problem in status.problems:
        print(f"  note: {problem}")
    return 0


# -- editing the user's config file ------------------------------------------------------------


def _add(args: argparse.Namespace) -> int:
    from agent import paths
    from tools.mcp.config import McpConfigError, parse_server

    rest = list(args.rest)
    if "--" in rest:
        split = rest.index("--")
    else:  # argparse took the `--` right after NAME: all of it is the command
        split = -1 if rest[:1] and not rest[0].startswith("-") else len(rest)
    later = argparse.ArgumentParser(prog="tessera mcp add NAME")
    _add_options(later)
    for key, value in vars(later.parse_args(rest[:max(split, 0)])).items():
        if value:  # an option after NAME (appended lists add up)
            current = getattr(args, key)
            setattr(args, key, current + value if isinstance(value, list) else value)
    command = rest[split + 1:]
    table: dict[str, object] = {}
    if args.url:
        table["url"] = args.url
    if command:
        table["command"], table["args"] = command[0], command[1:]
    try:
        env = dict(_pair(item) for item in args.env)
    except ValueError as exc:
        print(f"tessera mcp add: {exc}")
        return 2
    optional = {"env": env, "env_vars": args.env_var,
                "bearer_token_env_var": args.bearer_token_env_var,
                "startup_timeout": args.startup_timeout, "tool_timeout": args.tool_timeout}
    table.update({k: v for k, v in optional.items() if v})
    path = paths.user_config_file()
    try:
        parse_server(args.name, table, str(path))
        existing = _servers_in(path)
    except (McpConfigError, ValueError) as exc:
        print(f"tessera mcp add: {exc}")
        return 2
    if args.name in existing:
        print(f"tessera mcp add: {path} already has [mcp_servers.{args.name}]; "
              f"remove it first (tessera mcp remove {args.name})")
        return 2
    text = path.read_text() if path.is_file() else ""
    addition = _toml_table(args.name, table)
    new_text = (text.rstrip("\n") + "\n\n" if text.strip() else "") + addition
    _write(path, new_text)
    print(f"added [mcp_servers.{args.name}] to {path}; check it with: tessera mcp test {args.name}")
    return 0


def _remove(args: argparse.Namespace) -> int:
    from agent import paths

    path = paths.user_config_file()
    try:
        existing = _servers_in(path)
    except ValueError as exc:
        print(f"tessera mcp remove: {exc}")
        return 2
    if args.name not in existing:
        print(f"tessera mcp remove: {path} has no [mcp_servers.{args.name}]")
        return 2
    kept: list[str] = []
    inside = False
    own = re.compile(rf"^\s*\[\s*mcp_servers\s*\.\s*{re.escape(args.name)}\s*(\.|\])")
    for line in path.read_text().splitlines(keepends=True):
        if line.lstrip().startswith("["):
            inside = bool(own.match(line))
        if not inside:
            kept.append(line)
    new_text = "".join(kept)
    try:
        left = tomllib.loads(new_text).get("mcp_servers", {})
    except tomllib.TOMLDecodeError as exc:
        left = {args.name: f"not removable by line ({exc})"}
    if args.name in left:  # an inline table or dotted keys: not ours to rewrite
        print(f"tessera mcp remove: [mcp_servers.{args.name}] in {path} is not written as its "
              "own table; edit the file by hand")
        return 2
    _write(path, new_text.rstrip("\n") + "\n")
    print(f"removed [mcp_servers.{args.name}] from {path}")
    return 0


def _servers_in(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text()).get("mcp_servers", {})
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: invalid TOML: {exc}") from exc


def _pair(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise ValueError(f"--env {item!r}: expected KEY=VALUE")
    return key, value


def _toml_table(name: str, table: dict[str, object]) -> str:
    # JSON strings, lists and numbers are valid TOML values; env is a sub-table.
    lines = [f"[mcp_servers.{name}]"]
    for key, value in table.items():
        if key != "env":
            lines.append(f"{key} = {json.dumps(value)}")
    env = table.get("env")
    if isinstance(env, dict) and env:
        lines.append(f"\n[mcp_servers.{name}.env]")
        lines += [f"{json.dumps(k)} = {json.dumps(v)}" for k, v in env.items()]
    return "\n".join(lines) + "\n"


def _write(path: Path, text: str) -> None:
    from tools.atomic import write_atomically

    tomllib.loads(text)  # never write a file the next start could not read
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, text.encode(), mode=0o600)
