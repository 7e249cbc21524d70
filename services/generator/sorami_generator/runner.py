"""One pipeline call for a batch of jobs, run on the launch thread (never the event loop's,
which keeps serving the broker: heartbeats, confirms, other deliveries)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import draft, metrics
from .devices import make_generator
from .errors import JobAborted
from .families import PER_JOB_KWARGS, JobPrompt, family_for
from .inputs import batch_inputs
from .interrupts import watching
from .loaded import LoadedPipeline
from .previews import PreviewSchedule, project
from .requests import PlannedCall, call_parameters


class Aborter:
    """One job's stop switch: shutdown, cancel or time limit. Told on the event loop; the
    launch thread's step callback stops the call once every job in it is stopped, and
    ``when_stopped`` callbacks let the job end at once without waiting for its batch."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._listeners: list[Callable[[], None]] = []
        self.timed_out = False
        self.cancelled = False
        self.steps_done = 0  # denoising steps finished (written by the pipeline's thread)
        self.step_ended_at: list[float] = []  # wall time of each finished step

    def when_stopped(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def _stop(self) -> None:
        self._event.set()
        for listener in self._listeners:
            listener()

    def abort(self) -> None:
        """The worker is shutting down and gave up waiting: leave the job for redelivery."""
        self._stop()

    def cancel(self) -> None:
        """The user cancelled the job: it ends CANCELLED."""
        self.cancelled = True
        self._stop()

    def time_out(self) -> None:
        """The job ran past ``max_job_s``: it fails (timed_out)."""
        self.timed_out = True
        self._stop()

    def step_finished(self, step: int) -> None:
        self.steps_done = step
        self.step_ended_at.append(time.time())

    @property
    def aborted(self) -> bool:
        return self._event.is_set()

    def raise_if_stopped(self) -> None:
        if self.aborted:
            raise JobAborted("stopped")


@dataclass
class BatchItem:
    """One job's share of a pipeline call, as the launch thread sees it."""

    call: PlannedCall
    on_step: Callable[[int, int], None]
    aborter: Aborter
    # previews (previews.py): which steps make one, and where its pixels go
    schedule: PreviewSchedule | None = None
    on_preview: Callable[[int, int, np.ndarray], None] | None = None


def batch_kwargs(loaded: LoadedPipeline, items: list[BatchItem], pad_to: int = 0) -> dict[str, Any]:
    """One call for every item: a prompt, a negative prompt and a seeded generator per image
    (image i of a job seeded s uses s + i, alone or batched), padded with blank images up to
    ``pad_to`` (compiled models: a few batch sizes, so shapes never recompile)."""
    accepted = call_parameters(loaded.pipe)
    family = family_for(loaded.spec)
    first = items[0].call.kwargs
    kwargs = {k: v for k, v in first.items() if k not in PER_JOB_KWARGS}
    jobs = [
        JobPrompt(i.call.kwargs["prompt"], i.call.kwargs.get("negative_prompt"), i.call.outputs)
        for i in items
    ]
    kwargs.update(family.batch_kwargs(jobs, pad_to))
    kwargs.update(batch_inputs([i.call for i in items], len(kwargs["prompt"])))
    seeds = [(i.call.seed + n) % 2**63 for i in items for n in range(i.call.outputs)]
    seeds += [0] * (len(kwargs["prompt"]) - len(seeds))
    for count_kw in ("num_images_per_prompt", "num_videos_per_prompt"):
        if count_kw in accepted:
            kwargs[count_kw] = 1
    kwargs["generator"] = [make_generator(loaded.placement.device, s) for s in seeds]
    kwargs["output_type"] = family.output_type
    if items[0].call.extra.get("decoder") == "draft":
        kwargs["output_type"] = "latent"  # the tiny autoencoder decodes (draft.py)
    return kwargs


def run_batch(loaded: LoadedPipeline, items: list[BatchItem], pad_to: int = 0) -> list[np.ndarray]:
    """Blocking, on the launch thread. Returns each item's uint8 pixels: images (n, H, W, 3)
    or videos (n, F, H, W, 3). Stops at the next step once every item is aborted."""
    import torch

    pipe = loaded.pipe
    accepted = call_parameters(pipe)
    kwargs = batch_kwargs(loaded, items, pad_to)
    total = items[0].call.steps
    video = items[0].call.kind.value == "video"

    def step_done(step: int, steps: int) -> None:
        for item in items:
            if not item.aborter.aborted:
                item.aborter.step_finished(step)
                item.on_step(step, steps)
        check_abort()

    def every_job_stopped() -> bool:
        return all(item.aborter.aborted for item in items)

    def check_abort() -> None:
        if every_job_stopped():
            raise JobAborted("every job of the batch was stopped")

    previewing = _previewing(items)
    if previewing and "callback_on_step_end_tensor_inputs" in accepted:
        kwargs["callback_on_step_end_tensor_inputs"] = ["latents"]

    if "callback_on_step_end" in accepted:

        def on_step_end(
            _pipe: Any, step: int, _timestep: Any, cb_kwargs: dict[str, Any]
        ) -> dict[str, Any]:
            steps = getattr(_pipe, "_num_timesteps", None) or total
            step_done(step + 1, steps)
            if previewing:
                _previews(previewing, cb_kwargs.get("latents"), step + 1, steps, loaded)
            return cb_kwargs

        kwargs["callback_on_step_end"] = on_step_end
    elif "callback" in accepted:  # older pipelines (e.g. TextToVideoSDPipeline)
        kwargs["callback"] = lambda step, _t, _latents: step_done(step + 1, total)
        if "callback_steps" in accepted:
            kwargs["callback_steps"] = 1

    check_abort()  # stopped while waiting for the device
    with (
        torch.inference_mode(),
        metrics.pipeline_call(loaded.name, batch_size=len(items)),
        watching(loaded.block_checks, every_job_stopped),  # stops inside a step too
    ):
        result = pipe(**kwargs)
        raw = result.frames if video else result.images
        if kwargs["output_type"] == "latent":
            raw = draft.decode(loaded, raw)
        pixels = to_uint8(raw, video=video)
    out: list[np.ndarray] = []
    start = 0
    for item in items:
        out.append(pixels[start : start + item.call.outputs])
        start += item.call.outputs
    return out


def _previewing(items: list[BatchItem]) -> list[tuple[int, BatchItem]]:
    """(index of its first image in the batch, item) of each item that wants previews."""
    found, start = [], 0
    for item in items:
        if item.schedule is not None and item.on_preview is not None:
            found.append((start, item))
        start += item.call.outputs
    return found


def _previews(
    previewing: list[tuple[int, BatchItem]],
    latents: Any,
    step: int,
    total: int,
    loaded: LoadedPipeline,
) -> None:
    """On the launch thread: project the latents of each job whose preview is due."""
    if latents is None:
        return
    for start, item in previewing:
        if item.aborter.aborted or not item.schedule.due(step):  # type: ignore[union-attr]
            continue
        try:
            if loaded.spec.preview_decoder:  # a tiny autoencoder named by the model entry
                rgb = draft.preview_rgb(loaded, latents[start])
            else:
                h, w = item.call.height, item.call.width
                rgb = project(latents[start], loaded.spec.family, h, w)
        except Exception:  # noqa: BLE001 - a preview never fails its job
            rgb = None
        if rgb is not None:
            item.on_preview(step, total, rgb)  # type: ignore[misc]


def to_uint8(pixels: Any, *, video: bool) -> np.ndarray:
    """Normalise a pipeline's output (numpy float, torch tensor, PIL lists) to uint8 arrays."""
    import torch

    if isinstance(pixels, torch.Tensor):
        pixels = _channels_last(pixels, video=video)
        # on the device: a quarter of the bytes cross to the host
        pixels = pixels.float().clamp(0, 1).mul(255).round().to(torch.uint8).cpu().numpy()
    if isinstance(pixels, list):
        pixels = np.stack([_as_array(p) for p in pixels])
    arr = np.asarray(pixels)
    if arr.dtype != np.uint8:
        arr = (
            (np.clip(np.nan_to_num(arr.astype(np.float32)), 0.0, 1.0) * 255.0)
            .round()
            .astype(np.uint8)
        )
    expected = 5 if video else 4
    if arr.ndim == expected - 1:
        arr = arr[None]
    if arr.ndim != expected or arr.shape[-1] not in (1, 3, 4):
        raise ValueError(f"unexpected pipeline output shape {arr.shape}")
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    return np.ascontiguousarray(arr[..., :3])


def _channels_last(pixels: Any, *, video: bool) -> Any:
    """diffusers' ``output_type="pt"`` is channels-first: (n, C, H, W) or (n, F, C, H, W)."""
    channel_dim = 2 if video else 1
    if pixels.ndim == (5 if video else 4) and pixels.shape[channel_dim] in (1, 3, 4):
        if pixels.shape[-1] not in (1, 3, 4):
            return pixels.movedim(channel_dim, -1)
    return pixels


def _as_array(item: Any) -> np.ndarray:
    if isinstance(item, list):
        return np.stack([_as_array(i) for i in item])
    arr = np.asarray(item)
    if arr.dtype != np.uint8:
        arr = (np.clip(arr.astype(np.float32), 0, 1) * 255).round().astype(np.uint8)
    return arr
