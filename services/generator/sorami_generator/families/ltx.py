"""LTX-Video: frames 8k+1, sizes multiples of 32; the request's fps is the call's
``frame_rate`` (the transformer's temporal position scale)."""

from __future__ import annotations

from typing import Any

from sorami_shared.model_registry import ModelSpec

from .base import Family


class LTX(Family):
    name = "ltx"

    def adapt(
        self, spec: ModelSpec, kwargs: dict[str, Any], accepted: set[str] | None, fps: int | None
    ) -> None:
        super().adapt(spec, kwargs, accepted, fps)
        if fps is not None:
            kwargs["frame_rate"] = fps
