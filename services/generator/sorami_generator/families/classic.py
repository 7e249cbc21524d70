"""The families that take negatives and guidance through classic CFG as they are:
SD 1.x/2.x, SDXL (Turbo, Lightning: guidance 0, so no negatives), SD3/3.5, AnimateDiff,
Wan 2.1/2.2, CogVideoX."""

from __future__ import annotations

from .base import Family


class SD(Family):
    name = "sd"


class SDXL(Family):
    """SDXL treats a missing negative (zeros, ``force_zeros_for_empty_prompt``) and ``""``
    differently: the negative's presence is in the batching key, never filled for others."""

    name = "sdxl"


class SD3(Family):
    name = "sd3"


class AnimateDiff(Family):
    name = "animatediff"


class Wan(Family):
    name = "wan"


class CogVideoX(Family):
    name = "cogvideox"
