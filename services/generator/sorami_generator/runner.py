"""Running a pipeline call in a worker thread, so the event loop keeps serving the broker
(heartbeats, confirms, other deliveries) during minutes-long jobs."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from . import metrics
from .devices import make_generator
from .errors import JobAborted
from .pipelines import LoadedPipeline
from .requests import PlannedCall, call_parameters


class Aborter:
    """Set from the loop at shutdown; the step callback raises on the next step."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.timed_out = False
        self.cancelled = False
        self.steps_done = 0  # denoising steps finished (written by the pipeline's thread)
        self.step_ended_at: list[float] = []  # wall time of each finished step

    def abort(self) -> None:
        self._event.set()

    def cancel(self) -> None:
        """The user cancelled the job: stop at the next step; the job then ends CANCELLED."""
        self.cancelled = True
        self._event.set()

    def step_finished(self, step: int) -> None:
        self.steps_done = step
        self.step_ended_at.append(time.time())

    def time_out(self) -> None:
        """The job ran past ``max_job_s``: stop at the next step; the job then fails."""
        self.timed_out = True
        self._event.set()

    @property
    def aborted(self) -> bool:
        return self._event.is_set()


def run_pipeline(
    loaded: LoadedPipeline,
    call: PlannedCall,
    on_step: Callable[[int, int], None],
    aborter: Aborter | None = None,
) -> np.ndarray:
    """Blocking. Returns uint8 pixels: images (n, H, W, 3) or videos (n, F, H, W, 3)."""
    import torch

    pipe = loaded.pipe
    accepted = call_parameters(pipe)
    kwargs: dict[str, Any] = dict(call.kwargs)
    kwargs["generator"] = make_generator(loaded.placement.device, call.seed)
    kwargs["output_type"] = "np"
    total = call.steps

    def check_abort() -> None:
        if aborter is not None and aborter.aborted:
            raise JobAborted("worker shutting down")

    if "callback_on_step_end" in accepted:

        def on_step_end(
            _pipe: Any, step: int, _timestep: Any, cb_kwargs: dict[str, Any]
        ) -> dict[str, Any]:
            steps = getattr(_pipe, "_num_timesteps", None) or total
            if aborter is not None:
                aborter.step_finished(step + 1)
            on_step(step + 1, steps)
            check_abort()  # after the step's bookkeeping: the step it stops after is counted
            return cb_kwargs

        kwargs["callback_on_step_end"] = on_step_end
    elif "callback" in accepted:  # older pipelines (e.g. TextToVideoSDPipeline)

        def on_step_legacy(step: int, _timestep: Any, _latents: Any) -> None:
            if aborter is not None:
                aborter.step_finished(step + 1)
            on_step(step + 1, total)
            check_abort()

        kwargs["callback"] = on_step_legacy
        if "callback_steps" in accepted:
            kwargs["callback_steps"] = 1

    check_abort()  # cancelled (or shutting down) while waiting for the device
    with torch.inference_mode(), metrics.pipeline_call(loaded.name):
        result = pipe(**kwargs)
    pixels = result.frames if call.kind.value == "video" else result.images
    return to_uint8(pixels, video=call.kind.value == "video")


def to_uint8(pixels: Any, *, video: bool) -> np.ndarray:
    """Normalise a pipeline's output (numpy float, torch tensor, PIL lists) to uint8 arrays."""
    import torch

    if isinstance(pixels, torch.Tensor):
        pixels = pixels.float().cpu().numpy()
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


def _as_array(item: Any) -> np.ndarray:
    if isinstance(item, list):
        return np.stack([_as_array(i) for i in item])
    arr = np.asarray(item)
    if arr.dtype != np.uint8:
        arr = (np.clip(arr.astype(np.float32), 0, 1) * 255).round().astype(np.uint8)
    return arr


async def run_in_thread(
    loaded: LoadedPipeline,
    call: PlannedCall,
    on_step: Callable[[int, int], None],
    aborter: Aborter | None = None,
) -> np.ndarray:
    return await asyncio.to_thread(run_pipeline, loaded, call, on_step, aborter)
