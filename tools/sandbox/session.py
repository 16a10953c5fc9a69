"""What a session's sandboxed commands share: a network namespace, a proxy, background processes.

Built once per session (agent/session_driver.py) from the sandbox policy and the network
policy (tools/net_policy.py), handed to tools in `ToolContext.session`, closed when the
session ends. The three network modes:

- `off`: commands join the session's namespace: loopback only, shared by the session's
  commands, its background servers and the screenshot tool, and nothing else;
- `allow-list`: the same namespace, plus the proxy (tools/sandbox/proxy.py) listening in
  it; the proxy variables point there, and every connection it allows or refuses is kept
  for the agent to report (`take_decisions`);
- `on`: the host's network, as before (no namespace of the session's, no proxy).

Where no namespace can be made (no bubblewrap, not root, full-access mode) commands keep
what `plan_command` gives them, and `notes` says what that costs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import threading
from pathlib import Path

from tools.browser_guard import LOOPBACK_NAMES
from tools.net_policy import NetworkMode, NetworkPolicy, Resolver
from tools.sandbox.background import BackgroundProcesses
from tools.sandbox.cgroup import PidsCgroup, try_create
from tools.sandbox.netns import NamespaceUnavailable, SessionNetwork
from tools.sandbox.policy import SandboxMode, SandboxPolicy
from tools.sandbox.probe import SandboxLayers, probe_layers
from tools.sandbox.proxy import NetworkProxy, ProxyDecision, proxy_environment

LOOPBACK_ADDRESSES = ("127.0.0.1", "::1")


class SessionSandbox:
    def __init__(self, repo: Path, policy: SandboxPolicy, network: NetworkPolicy, *,
                 layers: SandboxLayers | None = None,
                 resolver: Resolver | None = None) -> None:  # fmt: skip
        self.repo = repo
        self.policy = policy
        self.network_policy = network
        self.notes: list[str] = []
        self.cgroup: PidsCgroup | None = None
        self.processes = BackgroundProcesses(self._process_layers(layers))
        self.net: SessionNetwork | None = None
        self.proxy: NetworkProxy | None = None
        self._decisions: list[ProxyDecision] = []
        self._lock = threading.Lock()
        host_network = policy.network or network.mode is NetworkMode.ON
        if policy.mode is SandboxMode.FULL_ACCESS or host_network:
            return  # commands use the host's network: nothing of the session's to make
        layers = self.layers
        if not layers.bwrap.available:
            self.notes.append(f"no session network (bubblewrap unusable: {layers.bwrap.detail}):"
                              " background servers cannot listen")  # fmt: skip
        else:
            try:
                self.net = SessionNetwork.create()
            except NamespaceUnavailable as exc:
                self.notes.append(f"no session network ({exc.strerror}): each command gets an "
                                  "empty network of its own, background servers are "
                                  "unreachable")  # fmt: skip
        if network.mode is NetworkMode.ALLOW_LIST:
            if self.net is None:
                self.notes.append("allow-list mode needs the session network: the proxy is "
                                  "off and commands reach nothing")  # fmt: skip
            else:
                try:
                    listener = self.net.listen()
                except OSError as exc:
                    self.notes.append(f"the proxy could not listen ({exc}): commands reach "
                                      "nothing")  # fmt: skip
                else:
                    self.proxy = NetworkProxy(network, listener, self._record, resolver).start()

    def _process_layers(self, layers: SandboxLayers | None) -> SandboxLayers:
        """This machine's layers, with a pids cgroup of the session's own as the parent of
        its background processes' cgroups (where one can be made): a pids limit is
        hierarchical, so they share the policy's `max_pids` between them."""
        self.layers = layers or probe_layers()
        parent = self.layers.cgroup_parent
        if not self.layers.pids_cgroup.available or parent is None:
            return self.layers
        self.cgroup = try_create(parent, self.policy.max_pids)
        if self.cgroup is None:
            return self.layers
        # cgroup v2 hands a controller to children only when asked (v1 has no such file).
        with contextlib.suppress(OSError):
            (self.cgroup.path / "cgroup.subtree_control").write_text("+pids")
        return dataclasses.replace(self.layers, cgroup_parent=self.cgroup.path)

    # -- what commands get --------------------------------------------------------------

    def command_policy(self, policy: SandboxPolicy | None = None) -> SandboxPolicy:
        """`policy` (default: the session's) with the session's namespace and proxy added."""
        policy = policy or self.policy
        if self.net is None or policy.network or policy.mode is SandboxMode.FULL_ACCESS:
            return policy
        changes: dict[str, object] = {"session_netns": self.net.path}
        if self.proxy is not None:
            env = proxy_environment(self.proxy.port, self.proxy_bypass())
            changes["extra_env"] = (*policy.extra_env, *env.items())
        return policy.with_(**changes)

    def proxy_bypass(self) -> tuple[str, ...]:
        """Loopback names commands reach directly (their own servers), less any the
        allow-list names: those mean the host's, through the proxy."""
        listed = {entry.host for entry in self.network_policy.allow_domains}
        names = [*sorted(LOOPBACK_NAMES), *LOOPBACK_ADDRESSES]
        return tuple(name for name in names if name not in listed)

    def connect(self, host: str, port: int, timeout: float) -> socket.socket:
        """A connection to a loopback server as the session's commands see it (the
        screenshot tool's way in); the host's loopback when there is no session network."""
        if self.net is None:
            return socket.create_connection((host, port), timeout=timeout)
        return self.net.connect(host, port, timeout)

    # -- what the agent reports ---------------------------------------------------------

    def _record(self, decision: ProxyDecision) -> None:
        with self._lock:
            self._decisions.append(decision)

    def take_decisions(self) -> list[ProxyDecision]:
        """The proxy's decisions since the last call, oldest first."""
        with self._lock:
            taken, self._decisions = self._decisions, []
        return taken

    def state(self) -> dict[str, object]:
        """For `tessera doctor` and `/ps`: the network mode and what runs."""
        proxy = None
        if self.proxy is not None:
            proxy = {"port": self.proxy.port, "running": self.proxy.running,
                     "allowed": self.proxy.allowed, "refused": self.proxy.refused}  # fmt: skip
        return {
            "network": self.network_policy.mode.value,
            "session_network": self.net is not None,
            "proxy": proxy,
            "processes": sum(p.running for p in self.processes.list()),
            "notes": list(self.notes),
        }

    def close(self) -> None:
        """Kill the background processes, stop the proxy, let the namespace go."""
        self.processes.close()
        if self.cgroup is not None:
            self.cgroup.remove()
        if self.proxy is not None:
            self.proxy.close()
        if self.net is not None:
            with contextlib.suppress(OSError):
                self.net.close()
