"""Request bodies of ``POST /api/{kind}/generate``, built from the configured limits.

One builder for both kinds: the fields are shared, images add ``num_images`` and videos add
``num_frames`` and ``fps``. Unknown fields are refused (``extra="forbid"``), values are strict
(``"64"`` is not a width), and ``model`` must be in that kind's allow-list.
"""

from __future__ import annotations

import secrets
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model
from sorami_shared.events import GenerationParams, Kind

from .settings import GatewaySettings
from .webhooks import urls as webhook_urls

MAX_SEED = 2**32 - 1


def _no_nul(value: str | None) -> str | None:
    # PostgreSQL text and jsonb cannot hold U+0000: refuse it here, as a 422 on the field.
    if value is not None and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


class GenerateRequestBase(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True)

    webhook_url: str | None = None  # declared per app in build_request_model
    webhook_events: list[str] | None = None

    def to_params(self) -> GenerationParams:
        """The event's parameters; the gateway picks (and stores) a seed when none was given."""
        values: dict[str, Any] = self.model_dump(exclude=set(webhook_urls.FIELDS))
        if values.get("seed") is None:
            values["seed"] = secrets.randbelow(MAX_SEED + 1)
        model = values["model"]
        values["model"] = model.value if isinstance(model, StrEnum) else model
        return GenerationParams(**values)


def _size(default: int, limits: Any, name: str) -> Any:
    return (
        Annotated[
            int,
            Field(
                ge=limits.min_size,
                le=limits.max_size,
                multiple_of=limits.size_multiple,
                description=f"{name} in pixels, a multiple of {limits.size_multiple}",
            ),
        ],
        default,
    )


def build_request_model(kind: Kind, settings: GatewaySettings) -> type[GenerateRequestBase]:
    limits = settings.limits_for(kind)
    models = settings.models_for(kind)
    model_enum = StrEnum(f"{kind.value.capitalize()}Model", {m: m for m in models})  # type: ignore[misc]
    text = Annotated[
        str, Field(min_length=1, max_length=settings.prompt_max_chars), AfterValidator(_no_nul)
    ]
    fields: dict[str, Any] = {
        "prompt": (text, ...),
        "negative_prompt": (
            Annotated[
                str | None, Field(max_length=settings.prompt_max_chars), AfterValidator(_no_nul)
            ],
            None,
        ),
        "model": (model_enum, model_enum(models[0])),
        "width": _size(limits.default_width, limits, "width"),
        "height": _size(limits.default_height, limits, "height"),
        "num_inference_steps": (
            Annotated[int, Field(ge=limits.min_steps, le=limits.max_steps)],
            limits.default_steps,
        ),
        "guidance_scale": (
            Annotated[float, Field(ge=limits.min_guidance_scale, le=limits.max_guidance_scale)],
            limits.default_guidance_scale,
        ),
        "seed": (Annotated[int | None, Field(ge=0, le=MAX_SEED)], None),
        **webhook_urls.request_fields(settings.webhooks, settings.environment),
    }
    if kind == Kind.IMAGE:
        fields["num_images"] = (
            Annotated[int, Field(ge=1, le=limits.max_num_images)],
            limits.default_num_images,
        )
    else:
        fields["num_frames"] = (
            Annotated[int, Field(ge=1, le=limits.max_num_frames)],
            limits.default_num_frames,
        )
        fields["fps"] = (Annotated[int, Field(ge=1, le=limits.max_fps)], limits.default_fps)
    return create_model(  # type: ignore[call-overload,no-any-return]
        f"{kind.value.capitalize()}GenerateRequest",
        __base__=GenerateRequestBase,
        __doc__=f"Parameters of a {kind.value} generation.",
        **fields,
    )


def build_request_models(settings: GatewaySettings) -> dict[Kind, type[GenerateRequestBase]]:
    return {kind: build_request_model(kind, settings) for kind in Kind}
