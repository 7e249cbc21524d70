"""How a request names an input image: an upload id (``"3f0c..."``), or an earlier result of
the same user (``{"generation": JOB_ID, "index": N}``: the Nth image of that job, or a video's
poster)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_STRENGTH = 0.8  # img2img: how far from the input image when the request says nothing


class GenerationRef(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    generation: uuid.UUID = Field(description="a job of yours that completed")
    index: int = Field(default=0, ge=0, le=63, description="which of its files")


InputRef = uuid.UUID | GenerationRef


def input_fields(kind_is_image: bool) -> dict[str, Any]:
    """The request fields of inputs (``create_model`` definitions): images take ``image``,
    ``strength`` and ``mask``; videos take ``image`` (the first frame)."""
    ref = (
        Annotated[
            InputRef | None,
            Field(description="an upload id, or {generation, index}: an earlier result of yours"),
        ],
        None,
    )
    if not kind_is_image:
        return {"image": ref}
    strength = Annotated[
        float | None,
        Field(
            gt=0,
            le=1,
            allow_inf_nan=False,
            description=f"img2img: 1 ignores the image; default {DEFAULT_STRENGTH} with an image",
        ),
    ]
    mask = Annotated[
        InputRef | None,
        Field(description="inpainting: white repaints, black keeps; the image's size"),
    ]
    return {"image": ref, "strength": (strength, None), "mask": (mask, None)}
