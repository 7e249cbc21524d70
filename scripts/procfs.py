"""Every process's ``/proc/PID/stat`` fields, for the scripts that walk processes (stdlib only:
``make down`` runs it without the venv)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path


def proc_stats() -> Iterator[tuple[int, list[str]]]:
    """``(pid, fields)`` of each process readable now; ``fields`` are those after the command
    name: ``[0]`` state, ``[1]`` ppid, ``[2]`` pgrp, ``[11]`` utime, ``[12]`` stime."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        yield int(entry.name), stat[stat.rindex(")") + 2 :].split()
