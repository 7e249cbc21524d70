"""Throughput of the generator's own path against plain ``pipe()`` calls (issue 13).

    make bench-gpu                                             # CUDA, bf16, SD-1.x class
    python services/generator/benchmarks/throughput.py --compile
    python services/generator/benchmarks/throughput.py --smoke # CPU, tiny models (a check)

For an image model and a video model it prints: plain ``pipe()`` at two batch sizes; a lone
job's latency on an idle worker; then a burst of one-image jobs from several users through
the real ``JobProcessor`` and ``Batcher`` (local storage, an in-process publish): images/s,
its ratio to both plain figures, p50/p95 job latency, the device's idle fraction between
batches, the batch sizes, and MFU (FLOPs from ``torch.utils.flop_counter``); for images also
images/s with the full VAE against a tiny autoencoder (the fast decode tier, draft_decode.py).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import draft_decode  # noqa: E402 - this folder's module, after the path

# --family: one model of that family (full_size.py / families.py), its bench defaults.
FAMILIES: dict[str, dict[str, Any]] = {
    "sdxl": {"size": 1024, "jobs": 32},
    # schnell has no guidance embedding: its entry says guidance none
    "flux-schnell": {"size": 1024, "jobs": 32, "entry": {"guidance": "none"}},
    "wan-1.3b": {"size": 480, "frames": 33, "smoke_frames": 5},
}
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0}  # dense bf16


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--smoke", action="store_true", help="CPU, tiny models, small sizes")
    p.add_argument("--family", default="sd15", choices=["sd15", *FAMILIES],
                   help="sd15: SD-1.x + AnimateDiff (both); else that family alone")  # fmt: skip
    p.add_argument("--compile", action="store_true", help="compile: true for both models")
    p.add_argument("--jobs", type=int, help="one-image jobs in the burst (64; smoke 16)")
    p.add_argument("--users", type=int, default=8)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--size", type=int, help="image side (512; smoke 32)")
    p.add_argument("--frames", type=int, help="video frames (16; smoke 8)")
    p.add_argument("--video-jobs", type=int, help="videos in the video burst (16; smoke 4)")
    p.add_argument("--no-video", action="store_true")
    p.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    p.add_argument("--peak-tflops", type=float, help="the device's peak, for MFU")
    p.add_argument("--model-dir", type=Path, default=Path(".data/bench-models"))
    a = p.parse_args()
    small = a.smoke
    fam = FAMILIES.get(a.family, {})
    a.jobs = a.jobs or (16 if small else fam.get("jobs", 64))
    a.size = a.size or (32 if small else fam.get("size", 512))
    a.frames = a.frames or (fam.get("smoke_frames", 8) if small else fam.get("frames", 16))
    a.video_jobs = a.video_jobs or (4 if small else 16)
    return a


def settings_for(a: argparse.Namespace, work: Path) -> Any:
    from sorami_generator.settings import GeneratorSettings

    side = {"width": a.size, "height": a.size}  # where a compiled model warms up
    common = {"compile": a.compile, "max_width": 1024, "max_height": 1024}
    if a.family != "sd15":
        from full_size import BUILDERS, FAMILY_MODELS, ensure_saved

        name = FAMILY_MODELS[a.family]
        _, kind, pipeline = BUILDERS[name]
        defaults = {**side, "num_frames": a.frames} if kind == "video" else side
        entry = {"source": str(ensure_saved(name, a.model_dir, tiny=a.smoke)), "kind": kind,
                 "pipeline": pipeline, "defaults": defaults, "size_multiple": 16,
                 "max_frames": 129, **common, **FAMILIES[a.family].get("entry", {})}  # fmt: skip
        models = {kind: entry}
        device, dtype, cache = (
            ("cpu", "float32", a.model_dir) if a.smoke else ("cuda", a.dtype, a.model_dir)
        )
        limits = {"max_batch_images": 4 * a.frames} if a.smoke else {}
    elif a.smoke:
        models = {
            "image": {"source": "builtin:tiny-image", "kind": "image", "defaults": side,
                      "pipeline": "StableDiffusionPipeline", **common},
            "video": {"source": "builtin:tiny-video", "kind": "video", "max_frames": 32,
                      "pipeline": "AnimateDiffPipeline", **common,
                      "defaults": {"width": a.size // 2, "height": a.size // 2,
                                   "num_frames": a.frames}},
        }  # fmt: skip
        device, dtype, cache = "cpu", "float32", a.model_dir
        limits = {"max_batch_images": 4 * a.frames}  # a few videos per call
    else:
        from full_size import BUILDERS, ensure_saved

        models = {}
        for kind, name in (("image", "sd15-random"), ("video", "animatediff-random")):
            if kind == "video" and a.no_video:
                continue
            source = ensure_saved(name, a.model_dir)
            _, _, pipeline = BUILDERS[name]
            defaults = {**side, "num_frames": a.frames} if kind == "video" else side
            models[kind] = {"source": str(source), "kind": kind, "pipeline": pipeline,
                            "defaults": defaults, **common}  # fmt: skip
        device, dtype, cache, limits = "cuda", a.dtype, a.model_dir, {}
    return GeneratorSettings(
        environment="test", models=models, model_cache_dir=cache, device=device, dtype=dtype,
        storage_local_dir=work / "media", progress_min_interval_s=0.25, **limits,
    )  # fmt: skip


def request(kind: str, a: argparse.Namespace, user: str, seed: int) -> Any:
    from sorami_shared.events import GenerationParams, GenerationRequested, Kind, new_event

    halve = a.smoke and a.family == "sd15"
    side = a.size if kind == "image" else max(8, a.size // 2 if halve else a.size)
    extra = {"num_frames": a.frames, "fps": 8} if kind == "video" else {}
    params = GenerationParams(
        prompt=f"a photograph of an astronaut riding a horse, take {seed}", model=kind,
        width=side, height=side, num_inference_steps=a.steps, guidance_scale=0.0, seed=seed,
        **extra,
    )  # fmt: skip
    data = GenerationRequested(job_id=uuid.uuid4(), user_id=user, kind=Kind(kind), params=params)
    return new_event(data, source="bench", correlation_id=f"bench-{seed}")


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def plain_call(loaded: Any, env: Any, batch: int) -> None:
    p = env.data.params
    extra = {"num_frames": p.num_frames} if p.num_frames else {}
    # ``batch`` prompts, not ``num_videos_per_prompt``: AnimateDiffPipeline sets that to 1
    # whatever it is given (diffusers 0.42), so "batch 4" was one video; the generator's
    # batches are a prompt per output too (runner.py)
    with torch.inference_mode():
        out = loaded.pipe(
            [p.prompt] * batch, width=p.width, height=p.height, output_type="np",
            num_inference_steps=p.num_inference_steps, guidance_scale=p.guidance_scale,
            generator=torch.Generator(loaded.placement.device).manual_seed(0), **extra,
        )  # fmt: skip
    made = len(out.frames if p.num_frames else out.images)
    if made != batch:
        raise RuntimeError(f"plain pipe() made {made} outputs for a batch of {batch}")
    sync()


def plain(loaded: Any, env: Any, batch: int, repeats: int) -> float:
    """Median seconds of a plain ``pipe()`` call at ``batch`` (after a warm-up call)."""
    plain_call(loaded, env, batch)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        plain_call(loaded, env, batch)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def flops_per_output(loaded: Any, env: Any) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        plain_call(loaded, env, 1)
    return float(counter.get_total_flops())


async def through_generator(proc: Any, envs: list[Any]) -> tuple[float, list[float]]:
    """All jobs handed in at once; (seconds to the last terminal event, each job's latency)."""
    from sorami_shared.messaging import Delivery

    first = Delivery(attempt=1, max_attempts=6, redelivered=False)
    t0 = time.perf_counter()

    async def one(env: Any) -> float:
        await proc.handle(env, first)
        return time.perf_counter() - t0

    latencies = await asyncio.gather(*(one(e) for e in envs))
    return time.perf_counter() - t0, list(latencies)


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, round(q * (len(values) - 1)))]


async def bench_kind(kind: str, a: argparse.Namespace, proc: Any, peak: float | None) -> None:
    n = a.jobs if kind == "image" else a.video_jobs
    big = (4 if a.smoke else 16) if kind == "image" else (2 if a.smoke else 4)
    repeats = 1 if a.smoke else 5
    t0 = time.perf_counter()
    loaded = await proc.pipelines.get(kind)
    print(f"[{kind}] loaded in {time.perf_counter() - t0:.1f}s (compile + warm-up included:"
          f" {a.compile}); {loaded.size_bytes / 2**20:.0f} MiB")  # fmt: skip
    env = request(kind, a, "u0", 0)
    p = env.data.params
    shape = (
        f"{p.width}x{p.height} x{p.num_frames} frames" if p.num_frames else f"{p.width}x{p.height}"
    )
    # off the event loop's thread, like the worker's launch thread (same threading, same figures)
    one_s = await asyncio.to_thread(plain, loaded, env, 1, repeats)
    big_s = await asyncio.to_thread(plain, loaded, env, big, repeats)
    print(f"[{kind}] {shape}, {a.steps} steps, guidance 0: plain pipe() batch 1:"
          f" {one_s * 1000:.0f} ms ({1 / one_s:.2f}/s); batch {big}: {big_s * 1000:.0f} ms"
          f" ({big / big_s:.2f}/s)")  # fmt: skip
    if kind == "image":  # the fast decode tier (issue 27): full VAE against a tiny one
        await asyncio.to_thread(draft_decode.report, loaded, env, big, repeats, a.smoke)
    lone = []
    for i in range(repeats):
        _, [latency] = await through_generator(proc, [request(kind, a, "lone", 1000 + i)])
        lone.append(latency)
    lone_s = statistics.median(lone)
    print(f"[{kind}] lone job on an idle worker: {lone_s * 1000:.0f} ms = {lone_s / one_s:.2f}x"
          " plain batch 1 (job includes encode, storage, events)")  # fmt: skip
    proc.batcher.stats.reset()
    envs = [request(kind, a, f"user{i % a.users}", i) for i in range(n)]
    took, latencies = await through_generator(proc, envs)
    stats = proc.batcher.stats
    rate = n / took
    sizes = ", ".join(f"{k}x{v}" for k, v in sorted(stats.sizes.items()))
    p50, p95 = pct(latencies, 0.5) * 1000, pct(latencies, 0.95) * 1000
    print(f"[{kind}] burst of {n} one-{kind} jobs from {min(n, a.users)} users: {rate:.2f}"
          f" {kind}s/s = {rate * one_s:.2f}x plain batch 1, {rate / (big / big_s):.2f}x plain"
          f" batch {big}; job latency p50 {p50:.0f} ms, p95 {p95:.0f} ms")  # fmt: skip
    print(f"[{kind}] device idle between batches: {stats.idle_fraction * 100:.1f}% of"
          f" {stats.batches} calls; batch sizes (jobs x calls): {sizes}")  # fmt: skip
    flops = await asyncio.to_thread(flops_per_output, loaded, env)
    mfu = f"{rate * flops / (peak * 1e12) * 100:.1f}%" if peak else "n/a (no known peak)"
    print(f"[{kind}] {flops / 1e12:.3f} TFLOP per {kind}; MFU under the burst: {mfu}")


async def main_async(a: argparse.Namespace) -> int:
    from sorami_generator.batcher import Batcher
    from sorami_generator.batching import BatchLimits
    from sorami_generator.jobs import JobProcessor
    from sorami_generator.service import make_pipeline_cache
    from sorami_shared.storage.local import LocalStorage

    with tempfile.TemporaryDirectory(prefix="sorami-bench-") as tmp:
        settings = settings_for(a, Path(tmp))
        pipelines = make_pipeline_cache(settings)
        limits = BatchLimits.resolve(settings, cuda=pipelines.placement.is_cuda)
        name = torch.cuda.get_device_name(0) if pipelines.placement.is_cuda else "cpu"
        peak = a.peak_tflops or next((v for k, v in PEAK_TFLOPS.items() if k in name), None)
        print(f"device={name} dtype={pipelines.placement.dtype} torch={torch.__version__}"
              f" max_batch={limits.max_batch} max_batch_images={limits.max_batch_images}"
              f" batch_window_ms={limits.window_s * 1000:g} compile={a.compile}")  # fmt: skip

        async def publish(_envelope: Any) -> None:
            return None

        batcher = Batcher(limits, buckets=settings.compile_buckets)
        proc = JobProcessor(settings, publish, LocalStorage(settings), pipelines, batcher=batcher)
        try:
            for kind in [k for k in ("image", "video") if k in settings.registry]:
                if not (kind == "video" and a.no_video):
                    await bench_kind(kind, a, proc, peak)
        finally:
            await batcher.close()
    return 0


def without_ffmpeg() -> bool:
    """Where imageio-ffmpeg is missing (a GPU box carrying only the wheels it must), videos'
    MP4 encode becomes a raw frame dump so the run goes on; the output says so."""
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        from sorami_generator import outputs

        outputs.encode_mp4 = lambda frames, fps: frames.tobytes()
        return True
    return False


def main() -> int:
    from sorami_shared.logging import configure_logging

    a = parse()
    if without_ffmpeg():
        print("no imageio-ffmpeg here: video jobs skip the MP4 encode (a raw frame dump)")
    if not a.smoke and not torch.cuda.is_available():
        print("no CUDA device: run with --smoke for the CPU check", file=sys.stderr)
        return 2
    if torch.cuda.is_available() and not a.smoke:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    configure_logging("bench", fmt="console", level="WARNING")
    return asyncio.run(main_async(a))


if __name__ == "__main__":
    sys.exit(main())
