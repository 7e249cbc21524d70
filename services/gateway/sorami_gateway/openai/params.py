"""OpenAI request → Sorami's kind-specific request model (same bounds, same allow-lists).

``size`` "WxH" → ``width``/``height``; ``n`` → ``num_images``; ``seconds`` → ``num_frames`` at
the requested (or default) ``fps``; ``model`` → the kind's allow-list, after the configured
aliases. A refusal names the OpenAI parameter the client sent (``size``, not ``width``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import ValidationError
from sorami_shared.events import Kind
from sorami_shared.output_options import FORMATS

from ..generations.model_catalog import allowed_models
from ..generations.requests import GenerateRequestBase
from ..settings import GatewaySettings
from .errors import OpenAIError, bad_request, from_validation
from .schemas import ImageGenerationRequest, SoramiExtensions, VideoCreateRequest

_SIZE = re.compile(r"^([1-9][0-9]{0,4})x([1-9][0-9]{0,4})$")
# Sorami's field → the OpenAI parameter that set it.
_OPENAI_NAME = {"width": "size", "height": "size", "num_images": "n", "num_frames": "seconds"}


def parse_size(size: str | None) -> dict[str, int]:
    if size is None or size == "auto":
        return {}
    match = _SIZE.match(size)
    if match is None:
        raise bad_request(
            f"Invalid size '{size}': expected WIDTHxHEIGHT in pixels, e.g. '512x512'.",
            param="size",
            code="invalid_size",
        )
    return {"width": int(match[1]), "height": int(match[2])}


def format_seconds(num_frames: int, fps: int) -> str:
    return f"{num_frames / fps:g}"


def _model(requested: str | None, kind: Kind, settings: GatewaySettings) -> dict[str, str]:
    if requested is None:
        return {}
    name = settings.openai_model_aliases.get(requested, requested)
    allowed = settings.models_for(kind)
    if name not in allowed:
        raise bad_request(
            f"The model '{requested}' does not exist or is not available for {kind.value}s. "
            f"Available: {', '.join(allowed)}.",
            param="model",
            code="model_not_found",
        )
    return {"model": name}


def _extensions(request: SoramiExtensions) -> dict[str, Any]:
    fields = SoramiExtensions.model_fields
    return {k: v for k, v in request.model_dump(include=set(fields)).items() if v is not None}


def _build(
    model: type[GenerateRequestBase],
    values: dict[str, Any],
    size: str | None,
    rename: dict[str, str] | None = None,
) -> GenerateRequestBase:
    try:  # as JSON, exactly like a body of POST /api/{kind}/generate (strict mode)
        return model.model_validate_json(json.dumps(values))
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        field = str(error["loc"][0]) if error["loc"] else ""
        if field in ("width", "height"):
            raise bad_request(
                f"Invalid size '{size}': {field} {error['msg'][0].lower()}{error['msg'][1:]}.",
                param="size",
                code="invalid_size",
            ) from None
        raise from_validation([error], rename={**_OPENAI_NAME, **(rename or {})}) from None


def _refuse(param: str, message: str) -> OpenAIError:
    return bad_request(message, param=param, code="unsupported_parameter")


def image_request(
    request: ImageGenerationRequest,
    model: type[GenerateRequestBase],
    settings: GatewaySettings,
    inputs: dict[str, str] | None = None,
) -> GenerateRequestBase:
    """``inputs``: ``image``/``mask`` upload ids (images.edit)."""
    if request.background == "transparent":
        raise _refuse("background", "Sorami produces opaque images; use 'opaque' or 'auto'.")
    if request.output_format not in (None, *FORMATS):
        raise _refuse("output_format", "Sorami produces 'png', 'jpeg' or 'webp' images.")
    if request.partial_images is not None and not 0 <= request.partial_images <= 3:
        raise bad_request(
            "Invalid value for 'partial_images': between 0 and 3.",
            param="partial_images",
            code="invalid_value",
        )
    if request.partial_images and not request.stream:
        raise _refuse("partial_images", "partial_images needs stream=true.")
    for name in ("complexity", "frame_count", "frame_duration_ms", "svg"):
        if getattr(request, name) is not None:
            raise _refuse(name, f"'{name}' is not supported by Sorami.")
    values: dict[str, Any] = {
        "prompt": request.prompt,
        **_model(request.model, Kind.IMAGE, settings),
        **parse_size(request.size),
        **_extensions(request),
    }
    if request.n is not None:
        values["num_images"] = request.n
    values.update(inputs or {})
    values["max_previews"] = (request.partial_images or 0) if request.stream else 0
    for name in ("output_format", "output_compression", "embed_metadata"):
        if getattr(request, name) is not None:
            values[name] = getattr(request, name)
    return _build(model, values, request.size)


VIDEO_NAMES = {"image": "input_reference"}  # Sorami's field → OpenAI's parameter


def video_request(
    request: VideoCreateRequest,
    model: type[GenerateRequestBase],
    settings: GatewaySettings,
    image: str | None = None,
) -> GenerateRequestBase:
    """``image``: the first frame's upload id (``input_reference``, a file or an id)."""
    values: dict[str, Any] = {
        "prompt": request.prompt,
        **_model(request.model, Kind.VIDEO, settings),
        **parse_size(request.size),
        **_extensions(request),
    }
    models = allowed_models(settings, Kind.VIDEO)
    spec = models.get(values.get("model", ""), next(iter(models.values())))
    fps = request.fps if request.fps is not None else spec.request_defaults()["fps"]
    if request.fps is not None:
        values["fps"] = request.fps
    if request.seconds is not None and fps >= 1:
        frames = round(request.seconds * fps)
        most = spec.limits()["max_frames"]
        if not 1 <= frames <= most:
            longest = format_seconds(most, fps)
            raise bad_request(
                f"Invalid seconds '{request.seconds:g}': at {fps} fps that is {frames} frames; "
                f"between 1 and {most} frames ({longest} s) are allowed.",
                param="seconds",
                code="invalid_value",
            )
        rule = spec.frames  # the family's form (LTX 8k+1, Wan 4k+1): the closest count of it
        near = rule.nearest(frames, high=most) if rule is not None and not rule.fits(frames) else []
        values["num_frames"] = min(near, key=lambda n: abs(n - frames)) if near else frames
    if image is not None:
        values["image"] = image
    return _build(model, values, request.size, VIDEO_NAMES)
