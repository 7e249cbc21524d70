"""A job's previews, wired: its schedule (how many it wants: the request's ``max_previews``,
else ``SORAMI_GENERATOR_PREVIEW_MAX``) and its sender (encode on the encode pool, publish
``generation.preview``). Images of families with latent→RGB factors, or of models whose
entry names a ``preview_decoder``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
from sorami_shared.events import Envelope, GenerationPreview, GenerationRequested, Kind, new_event
from sorami_shared.model_registry import ModelSpec

from .encoding import pool
from .previews import PreviewSchedule, PreviewSender, b64, can_preview, encode_preview
from .requests import PlannedCall
from .settings import GeneratorSettings

SOURCE = "sorami-generator"


def wanted(job: GenerationRequested, spec: ModelSpec, settings: GeneratorSettings) -> int:
    most = job.params.max_previews
    most = settings.preview_max if most is None else min(most, settings.preview_max)
    decodable = can_preview(spec.family) or bool(spec.preview_decoder)
    return most if job.kind == Kind.IMAGE and decodable else 0


def preview_parts(
    job: GenerationRequested,
    spec: ModelSpec,
    call: PlannedCall,
    settings: GeneratorSettings,
    publish: Callable[[Envelope[Any]], Awaitable[None]],
    correlation_id: str,
) -> tuple[PreviewSchedule, PreviewSender] | None:
    most = wanted(job, spec, settings)
    if most <= 0:
        return None
    loop = asyncio.get_running_loop()

    async def encode(rgb: np.ndarray) -> tuple[bytes, int, int]:
        size = min(settings.preview_size, max(call.width, call.height))
        return await loop.run_in_executor(
            pool(settings.encode_threads),
            encode_preview,
            rgb,
            size,
            settings.preview_format,
            settings.preview_quality,
        )

    async def send(index: int, step: int, total: int, data: bytes, w: int, h: int) -> None:
        preview = GenerationPreview(
            **job.job_ref(),
            index=index,
            step=step,
            total_steps=total,
            mime_type="image/webp" if settings.preview_format == "webp" else "image/jpeg",
            width=w,
            height=h,
            data_b64=b64(data),
        )
        await publish(new_event(preview, source=SOURCE, correlation_id=correlation_id))

    schedule = PreviewSchedule(call.steps, most, settings.preview_min_interval_s)
    return schedule, PreviewSender(loop, encode, send)
