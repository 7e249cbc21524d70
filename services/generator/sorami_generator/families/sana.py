"""Sana: renders at the size asked (resolution binning off: it would render at the nearest
training bin and rescale), a multiple of 32 (the DC-AE's factor)."""

from __future__ import annotations

from typing import Any

from sorami_shared.model_registry import ModelSpec

from .base import Family


class Sana(Family):
    name = "sana"

    def adapt(
        self, spec: ModelSpec, kwargs: dict[str, Any], accepted: set[str] | None, fps: int | None
    ) -> None:
        super().adapt(spec, kwargs, accepted, fps)
        kwargs["use_resolution_binning"] = False
