"""CPU time of the processes of a running system, read from ``/proc`` (for bench_system.py).

Each group is a set of OS processes: a service (its process and every descendant, e.g. the api
workers), the private RabbitMQ node's Erlang VM, or the PostgreSQL backends serving the run's
own databases (found in ``pg_stat_activity`` by database name). A sampler polls them while the
load runs and keeps, per pid, the CPU time seen first and last: a backend that exits between
two samples loses at most its last 0.25 s (the figures are a floor for short-lived ones).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from procfs import proc_stats  # scripts/procfs.py

TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float | None:
    """utime + stime of ``pid`` in seconds; None once it has exited."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) * TICK_S


def descendants(root: int) -> set[int]:
    """``root`` and every process below it."""
    children: dict[int, list[int]] = {}
    for pid, fields in proc_stats():
        children.setdefault(int(fields[1]), []).append(pid)
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo += children.get(pid, [])
    return found


@dataclass
class Group:
    name: str
    pids: Callable[[], set[int]]
    first: dict[int, float] = field(default_factory=dict)
    last: dict[int, float] = field(default_factory=dict)

    def sample(self, *, baseline: bool) -> None:
        for pid in self.pids():
            value = cpu_s(pid)
            if value is None:
                continue
            if pid not in self.first:
                # a process born during the measured window starts from zero
                self.first[pid] = value if baseline else 0.0
            self.last[pid] = value

    def used_s(self) -> float:
        return sum(self.last[pid] - self.first[pid] for pid in self.last)


class PgBackends:
    """The pids of the backends connected to ``databases`` (not this monitor's own)."""

    def __init__(self, dsn: str, databases: list[str]) -> None:
        self.dsn, self.databases = dsn, databases
        self.conn: asyncpg.Connection | None = None
        self.current: set[int] = set()

    async def refresh(self) -> None:
        if self.conn is None:
            self.conn = await asyncpg.connect(self.dsn)
        rows = await self.conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = ANY($1::text[])"
            " AND pid <> pg_backend_pid()",
            self.databases,
        )
        self.current = {r["pid"] for r in rows}

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()


class CpuMeter:
    """Samples every group until stopped; :meth:`used` gives CPU seconds per group."""

    def __init__(self, groups: list[Group], backends: PgBackends | None, every_s: float = 0.25):
        self.groups, self.backends, self.every_s = groups, backends, every_s
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.backends is not None:
            await self.backends.refresh()
        for group in self.groups:
            await asyncio.to_thread(group.sample, baseline=True)
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every_s)
            await self._sample()

    async def _sample(self) -> None:
        if self.backends is not None:
            with contextlib.suppress(Exception):
                await self.backends.refresh()
        for group in self.groups:
            await asyncio.to_thread(group.sample, baseline=False)

    async def stop(self) -> dict[str, float]:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._sample()
        return {g.name: g.used_s() for g in self.groups}
