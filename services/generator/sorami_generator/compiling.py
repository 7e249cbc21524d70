"""Opt-in ``torch.compile`` per model (``compile: true`` in its registry entry).

The denoiser (``unet`` or ``transformer``) and the VAE decoder are compiled with
channels_last and static shapes. Each batch is padded up to one of a few sizes (the
buckets) so shapes never recompile mid-traffic, and every bucket that fits the model's
images limit is run once at load, before the worker takes jobs. Inductor's cache lives in
the model cache directory, so a restart reuses what the last start compiled.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from sorami_shared.events import Kind
from sorami_shared.logging import get_logger

from .loaded import LoadedPipeline
from .requests import PlannedCall
from .runner import Aborter, BatchItem, run_batch

log = get_logger(__name__)

WARM_UP_STEPS = 2


def use_cache_dir(cache_dir: Path) -> None:
    """Before the first compile: inductor's and triton's caches under the model cache."""
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(Path(cache_dir) / "torchinductor"))
    os.environ.setdefault("TRITON_CACHE_DIR", str(Path(cache_dir) / "triton"))


def compile_pipeline(pipe: Any, buckets: list[int]) -> None:
    import torch

    torch._dynamo.config.cache_size_limit = max(  # one graph per bucket, per image size
        torch._dynamo.config.cache_size_limit, 4 * len(buckets)
    )
    for name in ("unet", "transformer"):
        module = getattr(pipe, name, None)
        if isinstance(module, torch.nn.Module):
            module.to(memory_format=torch.channels_last)
            setattr(pipe, name, torch.compile(module, dynamic=False))
    vae = getattr(pipe, "vae", None)
    if vae is not None and hasattr(vae, "decode"):
        vae.to(memory_format=torch.channels_last)
        vae.decode = torch.compile(vae.decode, dynamic=False)


def warm_up(loaded: LoadedPipeline, buckets: list[int], max_images: int) -> float:
    """Run every bucket up to ``max_images`` once at the model's default size; seconds taken."""
    spec = loaded.spec
    d = spec.defaults
    frames = d.get("num_frames", 16) if spec.kind == Kind.VIDEO else None
    kwargs: dict[str, Any] = {
        "prompt": "warm-up",
        "width": d.get("width", min(512, spec.max_width)),
        "height": d.get("height", min(512, spec.max_height)),
        "num_inference_steps": WARM_UP_STEPS,
        "guidance_scale": d.get("guidance_scale", 0.0),
    }
    if frames:
        kwargs["num_frames"] = frames
    call = PlannedCall(
        model=loaded.name, kind=spec.kind, seed=0, kwargs=kwargs, outputs=1,
        steps=WARM_UP_STEPS, width=kwargs["width"], height=kwargs["height"],
        num_frames=frames, fps=d.get("fps"),
    )  # fmt: skip
    started = time.perf_counter()
    for bucket in buckets:
        if bucket * (frames or 1) > max_images and bucket > 1:
            break
        t0 = time.perf_counter()
        run_batch(loaded, [BatchItem(call, lambda *_: None, Aborter())], pad_to=bucket)
        log.info("compiled bucket warmed up", model=loaded.name, bucket=bucket,
                 took_s=round(time.perf_counter() - t0, 2))  # fmt: skip
    return time.perf_counter() - started
