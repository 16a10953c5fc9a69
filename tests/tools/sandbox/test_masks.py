"""Battery, masks: every built-in secret location and Tessera's own state, in every mode.

The fake HOME (conftest) gets a fake secret at each entry of DEFAULT_SECRET_PATHS, the
data dir (TESSERA_HOME) an engine key, a sessions database, a trust list and a log, the
config dir a config file. A command inside the sandbox then tries to read all of it.
"""

from __future__ import annotations

import sqlite3
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from agent import paths
from agent.config import load_config
from agent.sessions import default_db_path
from model.engine.state import EnginePaths, ensure_api_key
from tests.tools.sandbox.conftest import PYTHON, requires_bwrap, without_bwrap
from tools.sandbox.policy import DEFAULT_SECRET_PATHS, SandboxMode, SandboxPolicy
from tools.sandbox.probe import probe_layers
from tools.sandbox.runner import run_command

pytestmark = requires_bwrap()

MODES = [(mode, network) for mode in SandboxMode for network in (False, True)]
MODE_IDS = [f"{mode.value}-net-{'on' if network else 'off'}" for mode, network in MODES]
# Entries laid out as directories (a secret file inside); the rest are files themselves.
FILE_NAMES = {".netrc", ".vault-token", ".boto", ".dbshell", ".lesshst", ".viminfo", "shada",
              ".wget-hsts", ".histfile", ".zhistory", ".s3cfg", ".pgpass", ".npmrc", ".yarnrc",
              ".pypirc", ".terraformrc", ".sentryclirc", ".git-credentials", "token",
              "credentials", "stored_tokens"}  # fmt: skip
DIRECTORY_ENTRIES = {entry for entry in DEFAULT_SECRET_PATHS
                     if "." not in Path(entry).name.lstrip(".") and "history" not in entry
                     and Path(entry).name not in FILE_NAMES}  # fmt: skip
# Reads every file below the paths given, printing what it could read.
READER = (
    "import os, sys\n"
    "for root in sys.argv[1:]:\n"
    "    found = [root] if os.path.isfile(root) else [os.path.join(d, f)\n"
    "             for d, _, files in os.walk(root) for f in files]\n"
    "    for name in found:\n"
    "        try:\n"
    "            print(name, open(name, errors='replace').read())\n"
    "        except OSError as exc:\n"
    "            print(name, 'unreadable', exc.strerror)\n"
)


def token() -> str:
    return f"SECRET-{uuid.uuid4().hex}"


def plant(path: Path, as_directory: bool) -> str:
    """A fake secret at `path` (a file, or a file inside the directory); returns its token."""
    value = token()
    target = path / "secret" if as_directory else path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(f"token = {value}\n")
    return value


@pytest.fixture
def secrets(fake_home, repo: Path) -> dict[str, str]:
    """Every location → its token; Tessera's state created the way Tessera creates it."""
    planted = {entry: plant(fake_home.path / entry, entry in DIRECTORY_ENTRIES)
               for entry in DEFAULT_SECRET_PATHS}  # fmt: skip
    data = paths.data_dir()
    planted["engine key"] = ensure_api_key(EnginePaths.under(data))
    session_token = token()
    with sqlite3.connect(default_db_path()) as db:
        db.execute("CREATE TABLE messages (text TEXT)")
        db.execute("INSERT INTO messages VALUES (?)", (session_token,))
    db.close()
    planted["sessions.db"] = session_token
    planted["trust list"] = plant(data / "trusted.json", False)
    planted["log"] = plant(data / "logs" / "session.log", False)
    planted["config"] = token()
    paths.user_config_file().parent.mkdir(parents=True, exist_ok=True)
    paths.user_config_file().write_text(f"# {planted['config']}\n[sandbox]\n")
    return planted


def config_policy(repo: Path, mode: SandboxMode, network: bool) -> SandboxPolicy:
    """The policy the agent builds (so Tessera's state paths are in it), in `mode`."""
    return load_config(repo).sandbox_policy().with_(
        mode=mode, network=network, timeout_s=30, output_limit=1024 * 1024
    )


def run_reader(repo: Path, policy: SandboxPolicy, *roots: Path | str) -> str:
    result = run_command([PYTHON, "-c", READER, *map(str, roots)], repo=repo, policy=policy)
    assert not result.truncated
    return result.output


@pytest.mark.parametrize(("mode", "network"), MODES, ids=MODE_IDS)
def test_no_secret_and_no_tessera_state_is_readable(repo, fake_home, secrets, mode, network):
    policy = config_policy(repo, mode, network)
    output = run_reader(repo, policy, fake_home.path, paths.data_dir(), paths.config_dir(),
                        *(fake_home.path / entry for entry in DEFAULT_SECRET_PATHS))  # fmt: skip
    assert fake_home.visible_token in output  # the reader worked: the home itself is visible
    leaked = [name for name, value in secrets.items() if value in output]
    assert leaked == []


@pytest.mark.parametrize(("mode", "network"), MODES, ids=MODE_IDS)
def test_sessions_database_unreadable_through_sqlite(repo, secrets, mode, network) -> None:
    policy = config_policy(repo, mode, network)
    query = ("import sqlite3, sys\n"
             "print(sqlite3.connect(sys.argv[1]).execute('SELECT * FROM messages').fetchall())")
    result = run_command([PYTHON, "-c", query, str(default_db_path())], repo=repo, policy=policy)
    assert secrets["sessions.db"] not in result.output
    assert result.exit_code != 0  # an empty file (or none) has no such table
    cli = run_command(f"sqlite3 {default_db_path()} 'SELECT * FROM messages'", repo=repo,
                      policy=policy)  # fmt: skip
    assert secrets["sessions.db"] not in cli.output


@pytest.mark.parametrize(("mode", "network"), MODES, ids=MODE_IDS)
def test_engine_key_absent_from_files_and_environment(repo, secrets, mode, network) -> None:
    key_file = EnginePaths.under(paths.data_dir()).api_key
    result = run_command(f"cat {key_file}; env; cat /proc/*/environ", repo=repo,
                         policy=config_policy(repo, mode, network))  # fmt: skip
    assert secrets["engine key"] not in result.output


@pytest.mark.parametrize("mode", list(SandboxMode))
def test_symlink_committed_in_the_repo_shows_the_mask(repo, fake_home, secrets, mode) -> None:
    (repo / "aws").symlink_to(fake_home.path / ".aws")
    (repo / "key").symlink_to(EnginePaths.under(paths.data_dir()).api_key)
    subprocess.run(["git", "add", "aws", "key"], cwd=repo, check=True)
    output = run_reader(repo, config_policy(repo, mode, False), repo / "aws", repo / "key")
    assert secrets[".aws"] not in output
    assert secrets["engine key"] not in output


@pytest.mark.parametrize("mode", list(SandboxMode))
def test_symlinked_secret_location_masks_its_target(repo, fake_home, scratch, mode) -> None:
    elsewhere = scratch / "real-kube"
    value = plant(elsewhere, True)
    (fake_home.path / ".kube").symlink_to(elsewhere)
    output = run_reader(repo, config_policy(repo, mode, False), fake_home.path / ".kube",
                        elsewhere)  # fmt: skip
    assert value not in output


@pytest.mark.parametrize("mode", list(SandboxMode))
def test_secret_created_after_the_start_stays_hidden(repo, fake_home, secrets, mode) -> None:
    later = fake_home.path / ".aws" / "created-later"
    command = (f"sleep 1; cat {later}; ls -A {fake_home.path / '.aws'} | sed s/^/entry:/; "
               f"umount {fake_home.path / '.aws'} && echo UNMOUNTED; "
               f"touch {fake_home.path / '.aws' / 'planted'} && echo WRITABLE")  # fmt: skip
    policy = config_policy(repo, mode, False)
    value = token()
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(run_command, command, repo=repo, policy=policy)
        time.sleep(0.5)  # the sandbox is up (it sleeps a whole second before reading)
        later.write_text(value)
        output = pending.result().output
    assert value not in output
    assert "entry:created-later" not in output
    assert "UNMOUNTED" not in output
    assert "WRITABLE" not in output
    assert not (fake_home.path / ".aws" / "planted").exists()


@pytest.mark.parametrize("mode", list(SandboxMode))
def test_unmasked_path_is_readable(repo, fake_home, secrets, mode) -> None:
    config = paths.user_config_file()
    config.write_text('[sandbox]\nunmask = ["~/.aws", "~/.config/gh"]\n')
    output = run_reader(repo, config_policy(repo, mode, False), fake_home.path / ".aws",
                        fake_home.path / ".config/gh", fake_home.path / ".ssh")  # fmt: skip
    assert secrets[".aws"] in output
    assert secrets[".config/gh"] in output
    assert secrets[".ssh"] not in output  # only what was named


def test_repository_config_cannot_unmask(repo, fake_home, secrets) -> None:
    (repo / ".tessera").mkdir()
    (repo / ".tessera/config.toml").write_text('[sandbox]\nunmask = ["~/.aws"]\n')
    config = load_config(repo)
    assert any("sandbox.unmask" in warning for warning in config.warnings)
    output = run_reader(repo, config.sandbox_policy(), fake_home.path / ".aws")
    assert secrets[".aws"] not in output


@pytest.mark.skipif(not probe_layers().landlock.available, reason="needs Landlock")
@pytest.mark.parametrize("mode", list(SandboxMode))
def test_landlock_fallback_hides_the_same_paths(repo, fake_home, secrets, mode) -> None:
    policy = config_policy(repo, mode, False)
    roots = (fake_home.path, paths.data_dir(), paths.config_dir(),
             *(fake_home.path / entry for entry in DEFAULT_SECRET_PATHS))  # fmt: skip
    result = run_command([PYTHON, "-c", READER, *map(str, roots)], repo=repo, policy=policy,
                         layers=without_bwrap())  # fmt: skip
    assert result.sandboxed is False and "secret-masks" in result.layers
    assert fake_home.visible_token in result.output  # what is not masked stays readable
    assert [name for name, value in secrets.items() if value in result.output] == []
    assert "tracked.txt" in run_command("ls", repo=repo, policy=policy,
                                        layers=without_bwrap()).output  # fmt: skip


@pytest.mark.parametrize("mode", list(SandboxMode))
def test_a_mask_over_a_parent_of_other_masks_still_runs(repo, fake_home, secrets, mode) -> None:
    policy = config_policy(repo, mode, False).with_(extra_masked_paths=(str(fake_home.path),))
    result = run_command(f"cat {fake_home.visible_file} ~/.ssh/secret; echo ran", repo=repo,
                         policy=policy)  # fmt: skip
    assert result.output.endswith("ran\n"), result.output
    assert fake_home.visible_token not in result.output
    assert secrets[".ssh"] not in result.output


@pytest.mark.parametrize("mode", list(SandboxMode))
def test_masks_survive_new_namespaces_and_proc_root(repo, fake_home, secrets, mode) -> None:
    aws = fake_home.path / ".aws"
    command = (f"unshare -Urm sh -c 'umount {aws}; cat {aws}/secret'; "
               f"unshare -m sh -c 'umount {aws}; cat {aws}/secret'; "
               f"cat /proc/1/root{aws}/secret /proc/$PPID/root{aws}/secret")  # fmt: skip
    result = run_command(command, repo=repo, policy=config_policy(repo, mode, False))
    assert secrets[".aws"] not in result.output


@pytest.mark.parametrize("fallback", [False, True], ids=["bwrap", "landlock"])
@pytest.mark.parametrize("mode", list(SandboxMode))
def test_the_repository_stays_usable_inside_a_masked_directory(repo, fake_home, secrets, mode,
                                                               fallback) -> None:  # fmt: skip
    if fallback and not probe_layers().landlock.available:
        pytest.skip("needs Landlock")
    policy = config_policy(repo, mode, False).with_(extra_masked_paths=(str(repo.parent),))
    command = (f"cat tracked.txt {fake_home.visible_file} ~/.ssh/secret; "
               "echo new > new.txt && echo WROTE")  # fmt: skip
    result = run_command(command, repo=repo, policy=policy,
                         layers=without_bwrap() if fallback else None)  # fmt: skip
    assert "original" in result.output
    assert fake_home.visible_token not in result.output  # the rest of the masked directory
    assert secrets[".ssh"] not in result.output
    assert ("WROTE" in result.output) == (mode is not SandboxMode.READ_ONLY)
    assert (repo / "new.txt").exists() == (mode is not SandboxMode.READ_ONLY)
