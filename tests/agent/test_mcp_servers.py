"""Which servers a session gets: the user's, a trusted repository's (replacing a user's
server of the same name), warnings for malformed tables and untrusted repositories."""

from __future__ import annotations

from pathlib import Path

from agent import paths
from agent.config import set_trusted
from agent.mcp_servers import configured_servers


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_user_and_trusted_repository_servers(repo: Path) -> None:
    write(paths.user_config_file(), '[mcp_servers.git]\ncommand = "mine"\n'
                                    '[mcp_servers.bad]\nurl = "gopher://x"\n')
    write(paths.project_config_file(repo), '[mcp_servers.git]\ncommand = "theirs"\n'
                                           'cwd = "tools"\n')
    servers, warnings = configured_servers(repo)
    assert [(s.name, s.command) for s in servers] == [("git", "mine")]
    assert any("[mcp_servers.bad]: url must be" in w and "left out" in w for w in warnings)
    assert any("declares MCP server(s) git; not started" in w for w in warnings)

    set_trusted(repo)
    servers, warnings = configured_servers(repo)
    [git] = servers
    assert git.command == "theirs" and git.cwd == str(repo / "tools")
    assert git.source == str(paths.project_config_file(repo))
    assert not any("not started" in w for w in warnings)

    write(paths.project_config_file(repo), '[mcp_servers.git]\ncommand = "changed"\n')
    servers, warnings = configured_servers(repo)
    assert [s.command for s in servers] == ["mine"]  # trust is bound to the file's content
    assert any("changed since you trusted" in w for w in warnings)


def test_no_servers_no_warnings(repo: Path) -> None:
    assert configured_servers(repo) == ([], [])


def test_doctor_lists_servers_and_what_was_left_out(repo: Path) -> None:
    from agent.doctor import check_mcp

    write(paths.user_config_file(), '[mcp_servers.git]\ncommand = "g"\nenabled = false\n'
                                    '[mcp_servers.bad]\ncommand = 3\n')
    summary, problem = check_mcp(repo)
    assert summary.ok and summary.detail == "1 configured: git (disabled)"
    assert not problem.ok and "[mcp_servers.bad]: command must be" in problem.detail
