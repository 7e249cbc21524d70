"""Bodies of the ``/v1`` facade, as the official ``openai`` SDK sends and parses them.

Fields Sorami cannot honour are refused with a 400 naming them (rather than silently
ignored); fields that only tune OpenAI's own models (``quality``, ``style``, ``moderation``)
are accepted and have no effect. Sorami's own knobs (``negative_prompt``,
``num_inference_steps``, ``guidance_scale``, ``seed``; videos also ``fps``) may be passed too,
e.g. through the SDK's ``extra_body``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class SoramiExtensions(BaseModel):
    """Sorami's own parameters, accepted beside OpenAI's."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # NaN, Infinity: 400

    negative_prompt: str | None = None
    num_inference_steps: int | None = None
    guidance_scale: float | None = None
    seed: int | None = None
    webhook_url: str | None = None  # validated like POST /api/{kind}/generate's (issue 15)
    webhook_events: list[str] | None = None


class ImageGenerationRequest(SoramiExtensions):
    prompt: str
    model: str | None = None
    n: int | None = None
    size: str | None = None
    response_format: Literal["url", "b64_json"] | None = None
    user: str | None = Field(default=None, max_length=256)
    safety_identifier: str | None = Field(default=None, max_length=256)
    # Accepted; they tune OpenAI's models and change nothing here.
    quality: Literal["auto", "standard", "hd", "low", "medium", "high", "xhigh", "max"] | None = (
        None
    )
    style: Literal["vivid", "natural"] | None = None
    moderation: Literal["auto", "low"] | None = None
    # Accepted only with the value Sorami produces (checked in params.py).
    background: Literal["auto", "opaque", "transparent"] | None = None
    output_format: Literal["png", "webp", "jpeg", "gif", "svg"] | None = None  # not gif/svg
    output_compression: int | None = None  # 0-100, jpeg/webp (Sorami's request checks it)
    embed_metadata: bool | None = None  # Sorami's: false keeps parameters out of the files
    partial_images: int | None = None
    stream: bool | None = None
    complexity: Any = None
    frame_count: Any = None
    frame_duration_ms: Any = None
    svg: Any = None


class VideoCreateRequest(SoramiExtensions):
    prompt: str
    model: str | None = None
    seconds: float | None = Field(default=None, gt=0, le=3600)
    size: str | None = None
    fps: int | None = None
    input_reference: Any = None


class ImageData(BaseModel):
    url: str | None = None
    b64_json: str | None = None
    revised_prompt: str | None = None


class ImagesResponse(BaseModel):
    created: int
    data: list[ImageData]
    size: str
    output_format: Literal["png", "jpeg", "webp"] = "png"
    background: Literal["opaque"] = "opaque"
    quality: str | None = None
    usage: None = None
    # Sorami's job id: the same generation is at /api/images/{id}/result.
    id: str


class VideoError(BaseModel):
    code: str
    message: str


class Video(BaseModel):
    id: str
    object: Literal["video"] = "video"
    created_at: int
    completed_at: int | None
    expires_at: int | None = None
    status: Literal["queued", "in_progress", "completed", "failed"]
    progress: int
    model: str
    prompt: str | None
    seconds: str
    size: str
    error: VideoError | None
    remixed_from_video_id: str | None = None


class VideoList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Video]
    first_id: str | None
    last_id: str | None
    has_more: bool


class VideoDeleted(BaseModel):
    id: str
    object: Literal["video.deleted"] = "video.deleted"
    deleted: bool = True
