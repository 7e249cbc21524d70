"""A load client light enough not to be the limit: raw asyncio sockets (uvloop when present),
HTTP/1.1 keep-alive, requests encoded once before the run, responses parsed just enough
(status line, Content-Length). What it costs is measured (``cpu_s``: this process's CPU time
during the phase) and printed beside each figure."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from dataclasses import dataclass, field


def encode(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: 127.0.0.1",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class Phase:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    wall_s: float = 0.0
    cpu_s: float = 0.0
    bodies: list[bytes] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return len(self.latencies_ms) / self.wall_s if self.wall_s else 0.0

    def pct(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]

    def line(self) -> str:
        return (
            f"{self.rate:7.0f} req/s  p50 {self.pct(50):6.2f}  p95 {self.pct(95):6.2f}  "
            f"p99 {self.pct(99):6.2f} ms  (n={len(self.latencies_ms)}, statuses "
            f"{dict(self.statuses)}, client CPU {self.cpu_s:.2f} s = "
            f"{100 * self.cpu_s / max(self.wall_s, 1e-9):.0f}% of one core)"
        )


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes]:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lower = head.lower()
    at = lower.find(b"content-length:")
    length = int(lower[at + 15 : lower.find(b"\r\n", at)]) if at >= 0 else 0
    return int(head[9:12]), await reader.readexactly(length) if length else b""


async def closed_loop(
    port: int, requests: list[bytes], total: int, concurrency: int, keep_bodies: bool = False
) -> Phase:
    """``total`` requests (cycling through ``requests``), ``concurrency`` connections each
    sending its next one as soon as the last is answered."""
    phase, order = Phase(), itertools.count()
    conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(concurrency)]

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (i := next(order)) < total:
            started = time.perf_counter()
            status, body = await exchange(reader, writer, requests[i % len(requests)])
            phase.latencies_ms.append((time.perf_counter() - started) * 1000)
            phase.statuses[status] += 1
            if keep_bodies:
                phase.bodies.append(body)

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(run(r, w) for r, w in conns))
    phase.wall_s, phase.cpu_s = time.perf_counter() - wall, time.process_time() - cpu
    for _, writer in conns:
        writer.close()
    return phase


async def open_loop(
    port: int, requests: list[bytes], rate: float, seconds: float, connections: int = 64
) -> Phase:
    """Requests at a fixed ``rate`` whatever the answers' pace; a latency counts from the
    moment the request was due (a server falling behind shows as latency, not as a lower
    offered rate)."""
    phase, order, total = Phase(), itertools.count(), int(rate * seconds)
    conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(connections)]
    start = time.perf_counter() + 0.05

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (i := next(order)) < total:
            due = start + i / rate
            if (wait := due - time.perf_counter()) > 0:
                await asyncio.sleep(wait)
            status, _ = await exchange(reader, writer, requests[i % len(requests)])
            phase.latencies_ms.append((time.perf_counter() - due) * 1000)
            phase.statuses[status] += 1

    cpu = time.process_time()
    await asyncio.gather(*(run(r, w) for r, w in conns))
    phase.wall_s, phase.cpu_s = time.perf_counter() - start, time.process_time() - cpu
    for _, writer in conns:
        writer.close()
    return phase


async def open_streams(port: int, requests: list[bytes]) -> list[asyncio.StreamWriter]:
    """One idle event stream per request, each read up to its ``ready`` frame and then left
    open (heartbeats pile up unread in the socket buffers: a few bytes each)."""

    async def one(request: bytes) -> asyncio.StreamWriter:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        if head[9:12] != b"200":
            raise RuntimeError(f"event stream answered {head[:40]!r}")
        await reader.readuntil(b"event: ready")
        return writer

    writers = []
    for start in range(0, len(requests), 100):  # 100 at a time: a burst, not a stampede
        writers += await asyncio.gather(*(one(r) for r in requests[start : start + 100]))
    return writers
