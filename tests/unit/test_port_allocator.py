"""tests/support/ports.py: the ports test servers get cannot collide between processes."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.support import ports
from tests.support.ports import PortAllocator, port_range


def test_two_processes_never_get_the_same_port(tmp_path: Path, monkeypatch) -> None:
    # Two allocators on one lock directory stand for two processes (flock locks belong to
    # an open file, so the second one cannot lock the first one's block either). Every port
    # counts as free here: this run's own servers may listen in that range, and skipping
    # them would leave 4 small blocks too few ports (the skip has its own test below).
    monkeypatch.setattr(ports, "_listen_free", lambda port: True)
    low = port_range()[0]
    a = PortAllocator(low, low + 4 * 8, lock_dir=tmp_path, block=8)
    b = PortAllocator(low, low + 4 * 8, lock_dir=tmp_path, block=8)
    got_a = {a.take() for _ in range(12)}
    got_b = {b.take() for _ in range(12)}
    assert len(got_a) == 12 and len(got_b) == 12  # each port handed out once
    assert not got_a & got_b
    blocks = lambda ports: {(p - low) // 8 for p in ports}  # noqa: E731
    assert not blocks(got_a) & blocks(got_b)


def test_a_port_something_listens_on_is_skipped(tmp_path: Path) -> None:
    low = port_range()[0]
    first = PortAllocator(low, low + 64, lock_dir=tmp_path / "probe", block=64).take()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", first))
        busy.listen()
        allocator = PortAllocator(low, low + 64, lock_dir=tmp_path / "locks", block=64)
        allocator._next = 0
        assert allocator.take() != first


def test_the_range_is_below_the_ephemeral_ports() -> None:
    low, high = port_range()
    eph_low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    assert high <= eph_low and high - low >= 64 * 32
