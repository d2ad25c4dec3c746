"""A validator network whose links can really be cut: one Linux network namespace per node.

Each validator runs in its own network namespace (``ip netns exec``) with one veth interface on a
bridge in the test's namespace, at 10.226.<subnet>.<index + 1>; the test reaches every node's RPC
over the bridge. :meth:`NamespacedNetwork.cut` adds blackhole routes in both namespaces, so
packets between the two nodes vanish silently in both directions, exactly like a partition: no
RST, no FIN, TCP connections stay "established" and retransmit into the void. :meth:`heal`
removes them. Needs root and a kernel with network namespaces, veth and bridges;
:func:`namespaces_unavailable` says why not when they are missing.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.network import Network, ValidatorProcess
from tests.e2e.node_process import SETTLE, WatchedProcess, wait_for_ready


def _ip(*args: str, namespace: str | None = None) -> None:
    command = ["ip", *(["-n", namespace] if namespace else []), *args]
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=10)


def namespaces_unavailable() -> str | None:
    """Why this machine cannot run namespaced nodes, or None if it can."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "no `ip` command (Debian's iproute2; ./scripts/test installs it)"
    probe = f"s26probe{os.getpid()}"
    try:
        _ip("netns", "add", probe)
        _ip("link", "add", f"{probe[:10]}v", "type", "veth", "peer", "name", f"{probe[:10]}p")
        _ip("link", "del", f"{probe[:10]}v")
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = exc.stderr.strip() if isinstance(exc, subprocess.CalledProcessError) else str(exc)
        return f"the kernel refuses network namespaces or veth pairs: {detail}"
    finally:
        if shutil.which("ip") is not None:
            subprocess.run(["ip", "netns", "del", probe], capture_output=True, timeout=10)
    return None


@dataclass
class NamespacedValidator(ValidatorProcess):
    namespace: str = ""
    address: str = ""

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.node.rpc_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.address}:{self.node.rpc_port}"

    def start(self, wait: bool = True) -> NamespacedValidator:
        command = ["ip", "netns", "exec", self.namespace, *SETTLE, "node", "run", "--config",
                   str(self.node.config_path)]
        self.process = WatchedProcess(command, self.log_path, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        if wait:
            wait_for_ready(self.process, self.url, 60)
        return self


class NamespacedNetwork(Network):
    """:class:`Network` with each node in its own namespace; ``close()`` removes every namespace and link."""

    def __init__(self, directory: Path, validators: int, block_period_ms: int) -> None:
        super().__init__(directory, validators, block_period_ms)
        self._created: list[str] = []
        self._namespaces: list[str] = []
        self._cuts: set[tuple[int, int]] = set()
        try:
            self._build(validators)
        except BaseException:
            self.close()
            raise

    def _build(self, validators: int) -> None:
        tag = os.getpid() % 100_000
        subnet = 10 + os.getpid() % 240
        self.bridge = f"s26b{tag}"
        addresses = [f"10.226.{subnet}.{index + 1}" for index in range(validators)]
        ports = {node.node.index: node.node.p2p_address.split("/")[4] for node in self.nodes}
        _ip("link", "add", self.bridge, "type", "bridge")
        self._created.append(self.bridge)
        _ip("addr", "add", f"10.226.{subnet}.254/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        namespaced = []
        for process, address in zip(self.nodes, addresses, strict=True):
            index = process.node.index
            namespace, outside, inside = f"s26-{tag}-{index}", f"s26v{tag}{index}", f"s26i{tag}{index}"
            _ip("netns", "add", namespace)
            self._namespaces.append(namespace)
            _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
            self._created.append(outside)
            _ip("link", "set", inside, "netns", namespace)
            _ip("addr", "add", f"{address}/24", "dev", inside, namespace=namespace)
            _ip("link", "set", inside, "up", namespace=namespace)
            _ip("link", "set", "lo", "up", namespace=namespace)
            _ip("link", "set", outside, "master", self.bridge)
            _ip("link", "set", outside, "up")
            config = process.node.config_path.read_text()
            for other, other_address in zip(self.nodes, addresses, strict=True):
                port = ports[other.node.index]
                config = config.replace(f"/ip4/127.0.0.1/tcp/{port}", f"/ip4/{other_address}/tcp/{port}")
            rpc_start = config.index("[rpc]")
            rpc_host = config.index('host = "127.0.0.1"', rpc_start)
            config = config[:rpc_host] + f'host = "{address}"' + config[rpc_host + len('host = "127.0.0.1"'):]
            process.node.config_path.write_text(config)
            namespaced.append(NamespacedValidator(process.node, namespace=namespace, address=address))
        self.nodes = namespaced  # type: ignore[assignment]

    def cut(self, a: int, b: int) -> None:
        """Drop every packet between validators ``a`` and ``b``, both ways, silently."""
        first, second = self.nodes[a], self.nodes[b]
        assert isinstance(first, NamespacedValidator) and isinstance(second, NamespacedValidator)
        _ip("route", "add", "blackhole", f"{second.address}/32", namespace=first.namespace)
        _ip("route", "add", "blackhole", f"{first.address}/32", namespace=second.namespace)
        self._cuts.add((a, b))

    def split(self, side: list[int]) -> None:
        """Cut every link between ``side`` and the rest."""
        for a in side:
            for b in range(len(self.nodes)):
                if b not in side:
                    self.cut(a, b)

    def heal(self) -> None:
        """Remove every cut."""
        for a, b in sorted(self._cuts):
            first, second = self.nodes[a], self.nodes[b]
            assert isinstance(first, NamespacedValidator) and isinstance(second, NamespacedValidator)
            _ip("route", "del", "blackhole", f"{second.address}/32", namespace=first.namespace)
            _ip("route", "del", "blackhole", f"{first.address}/32", namespace=second.namespace)
        self._cuts.clear()

    def close(self) -> None:
        self.stop_all()
        for link in self._created:
            subprocess.run(["ip", "link", "del", link], capture_output=True, timeout=10)
        for namespace in self._namespaces:
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, timeout=10)
