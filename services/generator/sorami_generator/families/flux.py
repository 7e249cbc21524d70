"""FLUX.1 dev (embedded guidance) and schnell (none): negatives through true CFG."""

from __future__ import annotations

from typing import Any

from sorami_shared.model_registry import ModelSpec

from .base import ModelMismatch, TrueCfgNegatives


class Flux(TrueCfgNegatives):
    name = "flux"

    def check_loaded(self, spec: ModelSpec, pipe: Any) -> None:
        super().check_loaded(spec, pipe)
        embeds = bool(getattr(pipe.transformer.config, "guidance_embeds", False))
        if embeds != (spec.guidance == "embedded"):
            want = "embedded" if embeds else "none"
            raise ModelMismatch(
                f"the model entry says guidance {spec.guidance!r}, but its transformer "
                f"{'has' if embeds else 'has no'} guidance embedding: set guidance: {want}"
            )
