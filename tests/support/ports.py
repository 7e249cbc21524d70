"""Loopback ports for test servers that no two test processes are ever given at once.

``bind(0)``-then-close (the old ``free_port()``) races: the kernel may hand the same port to
another process (another pytest-xdist worker, an overlapping run, any outgoing connection's
source port) before our server binds it. Here instead:

* ports come from below the kernel's ephemeral range (``ip_local_port_range``), so no
  outgoing connection and no ``bind(0)`` anywhere on the machine takes one;
* the range is cut into blocks of ``BLOCK`` ports; a process takes a block by holding an
  exclusive ``flock`` on ``$TMPDIR/sorami-test-ports/<block>.lock`` until it exits (the kernel
  releases it then, even after a crash), so workers and concurrent runs never share a block;
* within its blocks a process hands each port out once (a check that nothing listens there
  skips ports some other program took), and only reuses them after it has been through
  every block it could lock.
"""

from __future__ import annotations

import fcntl
import os
import random
import socket
import tempfile
import threading
from pathlib import Path

BLOCK = 32
LOCK_DIR = Path(tempfile.gettempdir()) / "sorami-test-ports"


def port_range() -> tuple[int, int]:
    """[low, high): the ports below the ephemeral range (20000-32767 on a default Linux)."""
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
        eph_low, eph_high = (int(x) for x in text.split())
    except (OSError, ValueError):
        eph_low, eph_high = 32768, 60999
    if eph_low - 20000 >= 64 * BLOCK:
        return 20000, eph_low
    if 65536 - (eph_high + 1) >= 64 * BLOCK:
        return eph_high + 1, 65536
    return 10000, 65536  # an unusual ephemeral range: the locks still keep our processes apart


def _listen_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class PortAllocator:
    def __init__(self, low: int, high: int, lock_dir: Path = LOCK_DIR, block: int = BLOCK):
        self.low, self.block, self.lock_dir = low, block, lock_dir
        self.blocks = (high - low) // block
        self._next = random.randrange(self.blocks)  # spread processes over the range
        self._visited = 0
        self._held: dict[int, int] = {}  # block index -> fd of its lock (kept open)
        self._pending: list[int] = []
        self._mutex = threading.Lock()

    def take(self) -> int:
        with self._mutex:
            while True:
                if not self._pending:
                    self._pending = self._claim_block()
                port = self._pending.pop(0)
                if _listen_free(port):
                    return port

    def _claim_block(self) -> list[int]:
        self.lock_dir.mkdir(parents=True, exist_ok=True)
        for _ in range(self.blocks):
            index = self._next
            self._next = (self._next + 1) % self.blocks
            self._visited += 1
            if index in self._held:
                if self._visited > self.blocks:  # been round once: our old ports again
                    return self._ports(index)
                continue
            fd = os.open(self.lock_dir / f"{index}.lock", os.O_CREAT | os.O_RDWR, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self._held[index] = fd  # not inheritable: child processes never hold it
            return self._ports(index)
        if self._held:  # every other block is taken: reuse our own
            self._visited = self.blocks + 1
            return self._claim_block()
        raise RuntimeError(f"every test port block in {self.lock_dir} is locked")

    def _ports(self, index: int) -> list[int]:
        start = self.low + index * self.block
        return list(range(start, start + self.block))


_allocator: PortAllocator | None = None
_allocator_pid = -1  # a forked child makes its own (it must not share the parent's blocks)
_allocator_lock = threading.Lock()


def allocator() -> PortAllocator:
    """This process's allocator."""
    global _allocator, _allocator_pid
    with _allocator_lock:
        if _allocator is None or _allocator_pid != os.getpid():
            _allocator, _allocator_pid = PortAllocator(*port_range()), os.getpid()
        return _allocator
