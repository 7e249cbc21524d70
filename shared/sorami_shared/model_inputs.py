"""Input images a model takes (issue 26): which request fields need which input, and the
fit rule the gateway documents and the generator applies (pure: no Pillow, no torch).

Fit rule: an input image of another size than the job's ``width`` x ``height`` is scaled to
cover it (keeping its aspect ratio) and centre-cropped; a mask must be the size of its image
(else 422 on ``mask``) and is fitted the same way.
"""

from __future__ import annotations

from typing import Any

from .events import Kind

INPUT_FIELDS = {"image": "image", "mask": "mask", "strength": "image"}


def input_refusal(spec: Any, name: str, value: Any, given: dict[str, Any]) -> str | None:
    """An input (or ``strength``) the model cannot take, or that needs an image."""
    if value is None:
        return None
    if INPUT_FIELDS[name] not in spec.inputs:
        what = "input image" if name != "mask" else "mask (inpainting)"
        return f"is not supported: this model takes no {what}"
    if name != "image" and given.get("image") is None:
        return "needs an image"
    if name == "strength" and spec.kind == Kind.VIDEO:
        return "does not apply to video models (the image is the first frame)"
    return None


def cover_crop(
    source: tuple[int, int], target: tuple[int, int]
) -> tuple[tuple[int, int], tuple[int, int, int, int]]:
    """The size to scale ``source`` (w, h) to so it covers ``target``, and the centred crop
    box (left, top, right, bottom) of ``target``'s size in the scaled image."""
    (sw, sh), (tw, th) = source, target
    scale = max(tw / sw, th / sh)
    w, h = max(tw, round(sw * scale)), max(th, round(sh * scale))
    left, top = (w - tw) // 2, (h - th) // 2
    return (w, h), (left, top, left + tw, top + th)
