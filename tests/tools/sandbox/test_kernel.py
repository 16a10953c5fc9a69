"""Battery, kernel surface: namespaces, keyrings, io_uring, ptrace denied; threads still work."""

from __future__ import annotations

import errno
import json
import platform

import pytest

from tests.tools.sandbox.conftest import PYTHON, requires_bwrap
from tools.sandbox.probe import probe_layers

pytestmark = requires_bwrap()

requires_seccomp = pytest.mark.skipif(
    not probe_layers().seccomp.available,
    reason=f"needs the seccomp layer: {probe_layers().seccomp.detail}",
)

SYSCALL_PROBE = """
import ctypes, json, platform
libc = ctypes.CDLL(None, use_errno=True)
numbers = {
    "x86_64": {"keyctl": 250, "ptrace": 101, "bpf": 321, "perf_event_open": 298,
               "userfaultfd": 323, "unshare": 272, "setns": 308, "mount": 165},
    "aarch64": {"keyctl": 219, "ptrace": 117, "bpf": 280, "perf_event_open": 241,
                "userfaultfd": 282, "unshare": 97, "setns": 268, "mount": 40},
}[platform.machine()]
numbers.update(io_uring_setup=425, clone3=435)
if platform.machine() == "x86_64":
    numbers["x32_getpid"] = 0x40000000 | 39
args = {"keyctl": (0, 0), "ptrace": (16, 1), "bpf": (0, 0, 0), "perf_event_open": (0, 0, -1, -1, 0),
        "userfaultfd": (0,), "unshare": (0x10000000,), "setns": (-1, 0), "mount": (0, 0, 0, 0, 0),
        "io_uring_setup": (1, 0), "clone3": (0, 0), "x32_getpid": ()}
out = {}
for name, nr in numbers.items():
    ctypes.set_errno(0)
    ret = libc.syscall(nr, *args[name])
    out[name] = [ret, ctypes.get_errno()]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def syscall_results(tmp_path_factory) -> dict[str, list[int]]:
    from tools.sandbox.policy import SandboxPolicy
    from tools.sandbox.runner import run_command

    repo = tmp_path_factory.mktemp("kernel-repo")
    policy = SandboxPolicy(timeout_s=20)
    result = run_command([PYTHON, "-c", SYSCALL_PROBE], repo=repo, policy=policy)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@requires_seccomp
@pytest.mark.parametrize(
    "name",
    ["keyctl", "ptrace", "bpf", "perf_event_open", "userfaultfd", "unshare", "setns", "mount",
     "io_uring_setup"],
)  # fmt: skip
def test_dangerous_syscall_denied_with_eperm(syscall_results, name: str) -> None:
    assert syscall_results[name] == [-1, errno.EPERM]


@requires_seccomp
def test_clone3_answers_enosys_so_libc_falls_back(syscall_results) -> None:
    assert syscall_results["clone3"] == [-1, errno.ENOSYS]


@requires_seccomp
@pytest.mark.skipif(platform.machine() != "x86_64", reason="x32 exists only on x86_64")
def test_x32_syscalls_are_rejected(syscall_results) -> None:
    assert syscall_results["x32_getpid"] == [-1, errno.EPERM]


def test_threads_and_subprocesses_still_work(run) -> None:
    code = (
        "import threading, subprocess\n"
        "results = []\n"
        "threads = [threading.Thread(target=lambda i=i: results.append(i * i)) for i in range(8)]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n"
        "print(sorted(results) == [i * i for i in range(8)])\n"
        "print(subprocess.run(['echo', 'child'], capture_output=True, text=True).stdout.strip())\n"
    )
    result = run([PYTHON, "-c", code])
    assert result.output.split() == ["True", "child"], result.output


@pytest.mark.require_program("unshare")
@pytest.mark.parametrize("flag", ["-U", "-n", "-m", "-p -f"])
def test_nested_unshare_fails(run, flag: str) -> None:
    result = run(f"unshare {flag} true && echo ESCAPED")
    assert result.exit_code != 0
    assert "ESCAPED" not in result.output


def test_no_capabilities_and_no_new_privileges(run) -> None:
    result = run("grep -E '^(CapEff|CapPrm|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status")
    fields = dict(line.split(":\t") for line in result.output.splitlines())
    assert int(fields["CapEff"], 16) == 0
    assert int(fields["CapPrm"], 16) == 0
    assert int(fields["CapBnd"], 16) == 0
    if probe_layers().seccomp.available:
        assert fields["NoNewPrivs"] == "1"
        assert fields["Seccomp"] == "2"
