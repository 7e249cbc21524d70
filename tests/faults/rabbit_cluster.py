"""A private 3-node RabbitMQ cluster for the fault tier (never the machine's own broker).

Three :class:`PrivateRabbitNode` (same ``rabbitmq-server`` binary, each its own node name,
AMQP and distribution ports, data dir) sharing one Erlang cookie, joined with
``rabbitmqctl join_cluster``. ``cluster_partition_handling = pause_minority``: a node cut off
from the other two pauses itself (closes its client connections) and resumes when the network
heals, so clients fail over to the majority and no split brain accepts writes.

Faults it can inject:

- :meth:`RabbitCluster.kill`: SIGKILL of one node's Erlang VM, :meth:`revive` brings it back
  with its data (it rejoins, its quorum-queue replicas catch up from the new leaders);
- :meth:`partition` / :meth:`heal`: one node cut off from the other two. Erlang distribution
  finds its peers through epmd and dials their distribution ports directly, so a TCP proxy
  cannot be put on that path without a custom ``-epmd_module``; instead the isolated node is
  given a wrong cookie for its two peers and its links to them are dropped
  (``erlang:set_cookie/2`` + ``erlang:disconnect_node/1`` over ``rabbitmqctl eval``): every
  reconnection attempt in either direction then fails the distribution handshake, a real
  two-way partition until the cookie is restored.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .rabbit_node import PrivateRabbitNode

CLUSTER_CONF = ("cluster_partition_handling = pause_minority",)


@dataclass
class RabbitCluster:
    base_dir: Path
    size: int = 3
    nodes: list[PrivateRabbitNode] = field(default_factory=list)

    def __post_init__(self) -> None:
        tag, cookie = uuid.uuid4().hex[:8], uuid.uuid4().hex
        self.nodes = [
            PrivateRabbitNode(
                self.base_dir / f"node{i}",
                name=f"sorami-faults-{tag}-{i}@localhost",
                cookie=cookie,
                extra_conf=CLUSTER_CONF,
            )
            for i in range(self.size)
        ]

    @property
    def amqp_urls(self) -> list[str]:
        return [n.amqp_url for n in self.nodes]

    def start(self, within_s: float = 120) -> float:
        """Start every node (in parallel), join the others to the first; returns seconds."""
        started = time.monotonic()
        with ThreadPoolExecutor(self.size) as pool:
            list(pool.map(lambda n: n.start(within_s), self.nodes))
        first = self.nodes[0]
        for node in self.nodes[1:]:
            node.ctl("stop_app")
            node.ctl("join_cluster", first.name)
            node.ctl("start_app")
        running = self.running_nodes()
        assert running == {n.name for n in self.nodes}, f"cluster did not form: {running}"
        return time.monotonic() - started

    def running_nodes(self, via: PrivateRabbitNode | None = None) -> set[str]:
        out = (via or self.nodes[0]).ctl("eval", "rabbit_nodes:all_running().")
        return {p.strip(" '[]\n") for p in out.split(",") if p.strip(" '[]\n")}

    def any_up(self, within_s: float = 90) -> PrivateRabbitNode:
        """A node that answers. Each try gives a node 20 s: on a loaded 2-core machine one
        ``rabbitmqctl`` (a fresh Erlang VM) can take over 10 s to start and ask, so a tight
        per-call timeout made a healthy cluster look down (a CI run failed on that). Paused or
        down nodes are skipped; the whole list is tried again until ``within_s``."""
        deadline = time.monotonic() + within_s
        while True:
            for node in self.nodes:
                if node._server is not None:
                    try:
                        node.ctl("await_startup", timeout=20)
                        return node
                    except Exception:  # noqa: BLE001 - paused, down or slow: ask another
                        continue
            if time.monotonic() > deadline:
                raise RuntimeError(f"no node of the cluster answered within {within_s:g} s")
            time.sleep(1)

    def queues(self) -> dict[str, tuple[int, int]]:
        return self.any_up().queues()

    def leaders(self) -> dict[str, str]:
        """quorum queue / stream name → the node leading it."""
        out = self.any_up().ctl("list_queues", "name", "leader", "--no-table-headers")
        pairs = (line.split() for line in out.splitlines())
        return {p[0]: p[1] for p in pairs if len(p) == 2}

    def members(self) -> dict[str, set[str]]:
        """queue / stream name → the nodes holding a replica."""
        out = self.any_up().ctl("list_queues", "name", "members", "--no-table-headers")
        found: dict[str, set[str]] = {}
        for line in out.splitlines():
            name, _, rest = line.partition("\t")
            found[name] = {m.strip(" '[]\t") for m in rest.split(",") if m.strip(" '[]\t")}
        return found

    def busiest_leader(self) -> tuple[PrivateRabbitNode, int]:
        """The node leading the most queues (ties: the first), and how many it leads."""
        counts = {n.name: 0 for n in self.nodes}
        for leader in self.leaders().values():
            if leader in counts:
                counts[leader] += 1
        name = max(counts, key=lambda k: counts[k])
        return next(n for n in self.nodes if n.name == name), counts[name]

    def kill(self, node: PrivateRabbitNode) -> None:
        node.kill()

    def revive(self, node: PrivateRabbitNode, within_s: float = 120) -> float:
        took = node.start(within_s)
        self._await_running(node, within_s)
        return took

    def partition(self, node: PrivateRabbitNode) -> None:
        self._set_peer_cookies(node, "sorami_partitioned", "erlang:disconnect_node")
        for peer in self._peers(node):  # and from their side, at once
            peer.ctl("eval", f"erlang:disconnect_node('{node.name}').")

    def heal(self, node: PrivateRabbitNode, within_s: float = 120) -> None:
        self._set_peer_cookies(node, "erlang:get_cookie()", "net_kernel:connect_node")
        self._await_running(node, within_s)

    def _peers(self, node: PrivateRabbitNode) -> list[PrivateRabbitNode]:
        return [n for n in self.nodes if n is not node]

    def _set_peer_cookies(self, node: PrivateRabbitNode, cookie: str, then: str) -> None:
        """On ``node``: the cookie it uses with each peer, then ``then(peer)``."""
        script = " ".join(
            f"erlang:set_cookie('{p.name}', {cookie}), {then}('{p.name}'),"
            for p in self._peers(node)
        )
        node.ctl("eval", f"{script} ok.")

    def _await_running(self, node: PrivateRabbitNode, within_s: float) -> None:
        deadline = time.monotonic() + within_s
        want = {n.name for n in self.nodes}
        while True:
            try:
                node.ctl("await_startup", timeout=30)
                if self.running_nodes(node) == want:
                    return
            except Exception:  # noqa: BLE001 - still starting or paused
                pass
            assert time.monotonic() < deadline, f"{node.name} did not rejoin the cluster"
            time.sleep(1)

    def stop(self) -> None:
        with ThreadPoolExecutor(self.size) as pool:
            list(pool.map(lambda n: n.stop(), self.nodes))
