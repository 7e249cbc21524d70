"""Jobs with input images (issue 26): img2img, inpainting.

The inputs are read from storage by the keys the ``generation.requested`` event names and
checked against its SHA-256 (a file deleted or replaced since the request fails the job:
``input_unavailable``). Each is fitted to the job's size by the shared rule
(:func:`sorami_shared.model_inputs.cover_crop`: scale to cover, centre-crop). The pipeline is
the loaded one seen through diffusers' ``from_pipe`` (AutoPipelineForImage2Image /
AutoPipelineForInpainting; a video's first frame: the class's image-to-video sibling, e.g.
LTXImageToVideoPipeline, or the entry's own pipeline when it takes an image): the same
modules, no second copy of the weights, made once per loaded model. Images and masks are
per-job kwargs (one per image of a batched call); the mode
and ``strength`` are in the batching key, so img2img jobs of one size and strength share a
call, each with its own seeded generator.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import io
import threading
import weakref
from typing import Any

from PIL import Image
from sorami_shared.events import FailureCode, GenerationRequested, InputFile, Kind
from sorami_shared.model_inputs import cover_crop
from sorami_shared.model_registry import ModelSpec
from sorami_shared.storage import ObjectNotFound, Storage

from .errors import JobFailed
from .loaded import LoadedPipeline
from .requests import PlannedCall, call_parameters, invalid, plan_call

INPUT_KWARGS = ("image", "mask_image")  # per job: one entry per image of the call
_VARIANTS: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


# Image-to-video: the text-to-video class → its image-to-video sibling on the same modules.
I2V = {"LTXPipeline": "LTXImageToVideoPipeline"}


def mode_of(request: GenerationRequested) -> str | None:
    roles = {f.role for f in request.params.inputs or []}
    if not roles:
        return None
    if request.kind == Kind.VIDEO:
        return "i2v"  # the image is the first frame
    return "inpaint" if "mask" in roles else "img2img"


async def read_input(storage: Storage, info: InputFile) -> bytes:
    try:
        data = await storage.get(info.key)
    except ObjectNotFound:
        raise JobFailed(
            FailureCode.INPUT_UNAVAILABLE, f"the input {info.role} is gone (deleted or expired)"
        ) from None
    if hashlib.sha256(data).hexdigest() != info.sha256:
        raise JobFailed(
            FailureCode.INPUT_UNAVAILABLE, f"the input {info.role} changed since the request"
        )
    return data


def fit(data: bytes, role: str, size: tuple[int, int]) -> Image.Image:
    """Decoded, upright RGB (a mask: L), scaled to cover ``size`` and centre-cropped."""
    with Image.open(io.BytesIO(data)) as image:
        image = image.convert("L" if role == "mask" else "RGB")
    scaled, box = cover_crop(image.size, size)
    return image.resize(scaled, Image.Resampling.LANCZOS).crop(box)


def variant(loaded: LoadedPipeline, mode: str) -> LoadedPipeline:
    """``loaded`` seen as an img2img or inpainting pipeline (diffusers from_pipe: shared
    modules), cached for as long as the loaded pipeline lives."""
    import diffusers

    if mode == "i2v" and "image" in call_parameters(loaded.pipe):
        return loaded  # an image-to-video entry of its own
    with _LOCK:
        cache = _VARIANTS.setdefault(loaded.pipe, {})
        if mode not in cache:
            try:
                if mode == "i2v":
                    name = I2V.get(type(loaded.pipe).__name__)
                    if name is None:
                        raise ValueError(f"no image-to-video form of {type(loaded.pipe).__name__}")
                    cache[mode] = getattr(diffusers, name).from_pipe(loaded.pipe)
                elif mode == "inpaint":
                    cache[mode] = diffusers.AutoPipelineForInpainting.from_pipe(loaded.pipe)
                else:
                    cache[mode] = diffusers.AutoPipelineForImage2Image.from_pipe(loaded.pipe)
            except (ValueError, KeyError, TypeError) as exc:
                raise invalid(f"{loaded.name!r} has no {mode} pipeline: {exc}") from None
    return dataclasses.replace(loaded, pipe=cache[mode])


async def plan_with_inputs(
    storage: Storage, loaded: LoadedPipeline, job: GenerationRequested, spec: ModelSpec
) -> tuple[LoadedPipeline, PlannedCall]:
    """The pipeline and call of a job with input images."""
    mode = mode_of(job)
    assert mode is not None
    p = job.params
    size = (p.width, p.height)
    kwargs: dict[str, Any] = {}
    for info in p.inputs or []:
        data = await read_input(storage, info)
        name = "mask_image" if info.role == "mask" else "image"
        kwargs[name] = await asyncio.to_thread(fit, data, info.role, size)
    seen = await asyncio.to_thread(variant, loaded, mode)
    call = plan_call(job, spec)  # checked, without the text-to-image pipeline's parameters
    accepted = call_parameters(seen.pipe)
    kwargs = {**call.kwargs, **kwargs}
    if p.strength is not None:
        kwargs["strength"] = p.strength
    for name in ("width", "height"):  # img2img takes the image's size (fitted above)
        if name not in accepted:
            kwargs.pop(name, None)
    refused = sorted(k for k in kwargs if k not in accepted)
    if refused:
        raise invalid(f"{p.model!r} ({mode}) does not take {', '.join(refused)}")
    return seen, dataclasses.replace(call, kwargs=kwargs, extra={**call.extra, "mode": mode})


def batch_inputs(calls: list[PlannedCall], total: int) -> dict[str, list[Any]]:
    """Each input kwarg as one entry per image of the call (padding repeats the last)."""
    out: dict[str, list[Any]] = {}
    for name in INPUT_KWARGS:
        if name in calls[0].kwargs:
            per = [c.kwargs[name] for c in calls for _ in range(c.outputs)]
            out[name] = per + [per[-1]] * (total - len(per))
    return out
