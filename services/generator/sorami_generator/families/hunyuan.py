"""HunyuanVideo: embedded guidance; negatives through true CFG; frames 4k+1."""

from __future__ import annotations

from .base import TrueCfgNegatives


class HunyuanVideo(TrueCfgNegatives):
    name = "hunyuanvideo"
