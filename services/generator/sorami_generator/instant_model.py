"""``builtin:instant``: a TEST-ONLY model that returns noise of the size asked with no compute,
so a benchmark of the whole system (``make bench-system``) shows the control plane's own
ceiling, at the rate a real GPU would feed it. It is not a built-in of the registry: a
benchmark or test registers it through ``MODELS`` (``{"source": "builtin:instant", ...}``).

``SORAMI_GENERATOR_INSTANT_STEP_S`` (default 0): each step sleeps that long, whatever the batch
size, as one batched call on a GPU would (``make bench-scheduler`` sets a pipeline call time)."""

from __future__ import annotations

import os
import time
from types import SimpleNamespace
from typing import Any

import numpy as np

NAME = "instant"


class InstantPipeline:
    """Looks like a diffusers text-to-image pipeline to the runner: the step callback runs for
    every step (so progress is reported as for a real model), then uint8 noise comes back."""

    def __init__(self) -> None:
        self._rng = np.random.default_rng()
        self._num_timesteps = 0
        self.step_s = float(os.environ.get("SORAMI_GENERATOR_INSTANT_STEP_S", "0") or 0)

    def __call__(
        self,
        prompt: str | list[str],
        width: int = 64,
        height: int = 64,
        num_inference_steps: int = 4,
        guidance_scale: float = 0.0,
        negative_prompt: str | list[str] | None = None,
        num_images_per_prompt: int = 1,
        generator: Any = None,
        output_type: str = "pt",
        callback_on_step_end: Any = None,
    ) -> SimpleNamespace:
        n = (len(prompt) if isinstance(prompt, list) else 1) * num_images_per_prompt
        self._num_timesteps = num_inference_steps
        for step in range(num_inference_steps):
            if self.step_s:
                time.sleep(self.step_s)
            if callback_on_step_end is not None:
                callback_on_step_end(self, step, None, {})
        images = self._rng.integers(0, 256, (n, height, width, 3), dtype=np.uint8)
        return SimpleNamespace(images=images)
