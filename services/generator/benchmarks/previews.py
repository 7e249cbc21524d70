"""What live previews cost on the CPU (issue 27): the same 20-step image jobs through the real
``JobProcessor`` (local storage, an in-process publish) with previews off, at the defaults
(up to 4, ≥ 0.25 s apart) and at the most (4 per job, no interval), interleaved round by
round; prints each mode's median job time and its ratio to previews off.

    make bench-previews
    python services/generator/benchmarks/previews.py --smoke

The tiny model's steps take milliseconds, so its ratio is an upper bound of the overhead:
a preview costs a fixed ~ms (projection, a small WebP encode, one event), a real step more.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

MODES = {"off": (0, 0.25), "default": (4, 0.25), "4 per job": (4, 0.0)}


def job(size: int, steps: int, seed: int) -> Any:
    from sorami_shared.events import GenerationParams, GenerationRequested, Kind, new_event

    params = GenerationParams(
        prompt=f"a lighthouse at dawn, take {seed}",
        model="tiny-image",
        width=size,
        height=size,
        num_inference_steps=steps,
        guidance_scale=5.0,
        seed=seed,
    )
    data = GenerationRequested(job_id=uuid.uuid4(), user_id="u", kind=Kind.IMAGE, params=params)
    return new_event(data, source="bench", correlation_id=f"bench-{seed}")


async def main_async(a: argparse.Namespace) -> None:
    from sorami_generator.jobs import JobProcessor
    from sorami_generator.service import make_pipeline_cache
    from sorami_generator.settings import GeneratorSettings
    from sorami_shared.logging import configure_logging
    from sorami_shared.messaging import Delivery
    from sorami_shared.storage.local import LocalStorage

    configure_logging("bench", fmt="console", level="WARNING")

    with tempfile.TemporaryDirectory(prefix="sorami-bench-") as tmp:
        base = GeneratorSettings(
            model_cache_dir=Path(tmp) / "models",
            storage_backend="local",
            storage_local_dir=Path(tmp) / "media",
        )
        pipelines = make_pipeline_cache(base)
        previews: list[Any] = []

        async def publish(envelope: Any) -> None:
            if envelope.type == "generation.preview":
                previews.append(envelope)

        procs = {
            mode: JobProcessor(
                base.model_copy(update={"preview_max": most, "preview_min_interval_s": gap}),
                publish,
                LocalStorage(base),
                pipelines,
            )
            for mode, (most, gap) in MODES.items()
        }
        first = Delivery(attempt=1, max_attempts=6, redelivered=False)
        await procs["off"].handle(job(a.size, a.steps, 0), first)  # load + warm up
        times: dict[str, list[float]] = {mode: [] for mode in MODES}
        counts: dict[str, int] = dict.fromkeys(MODES, 0)
        for r in range(a.rounds):
            for mode, proc in procs.items():
                before = len(previews)
                t0 = time.perf_counter()
                await proc.handle(job(a.size, a.steps, r + 1), first)
                times[mode].append(time.perf_counter() - t0)
                counts[mode] += len(previews) - before
        off = statistics.median(times["off"])
        print(f"tiny-image {a.size}x{a.size}, {a.steps} steps, {a.rounds} rounds (CPU)")
        for mode in MODES:
            ms = statistics.median(times[mode]) * 1000
            print(
                f"[previews {mode}] {ms:.0f} ms per job, {counts[mode] / a.rounds:.1f} previews"
                f" per job = {ms / 1000 / off:.3f}x previews off"
            )
        for proc in procs.values():
            await proc.batcher.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="2 rounds at 64 px (a check)")
    ap.add_argument("--size", type=int, default=256, help="the tiny model's largest: 256")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=10)
    a = ap.parse_args()
    if a.smoke:
        a.size, a.rounds = 64, 2
    asyncio.run(main_async(a))


if __name__ == "__main__":
    main()
