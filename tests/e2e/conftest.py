"""Fixtures for the end-to-end tier: a whole Sorami system as real processes."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.system import System


@pytest.fixture(scope="session")
def tiny_model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One model cache for the tier: the generator builds the tiny models into it on first
    start (seconds), later systems load them through the same from_pretrained path. Under
    pytest-xdist the workers of one run share it (the build is atomic: a rename)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = tmp_path_factory.getbasetemp().parent / "models"  # beside popen-gw0, gw1...
        shared.mkdir(exist_ok=True)
        return shared
    return tmp_path_factory.mktemp("models")


@pytest.fixture
async def make_system(
    amqp_url: str, make_database, tmp_path: Path, tiny_model_cache: Path
) -> AsyncIterator[Callable[..., Awaitable[System]]]:
    """Factory: ``await make_system(storage_env=..., **options)`` starts every service and
    returns once the API is ready and every consumer consumes. Teardown stops them with
    SIGTERM and checks that each exited 0."""
    systems: list[System] = []

    async def make(*, storage_env: dict[str, str] | None = None, **options: Any) -> System:
        base = tmp_path / f"system{len(systems)}"
        system = System(
            base_dir=base,
            database_urls={
                "gateway": await make_database("e2e_gateway"),
                "notifier": await make_database("e2e_notifier"),
            },
            amqp_url=amqp_url,
            storage_env=storage_env
            or {"STORAGE_BACKEND": "local", "STORAGE_LOCAL_DIR": str(base / "media")},
            model_cache_dir=tiny_model_cache,
            **options,
        )
        systems.append(system)
        await system.start(system.start_within_s)
        return system

    yield make
    # All at once: a process takes a second or more to exit after its last log line (the
    # interpreter tearing down torch/SQLAlchemy), so the systems' stops overlap.
    stopped = await asyncio.gather(*(system.stop() for system in systems))
    for system, codes in zip(systems, stopped, strict=True):
        print(f"[e2e] exit codes on SIGTERM: {codes}")
        bad = {name: code for name, code in codes.items() if code != 0}
        assert not bad, system.report(f"processes did not exit 0 on SIGTERM: {bad}")
