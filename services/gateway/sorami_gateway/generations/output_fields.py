"""The image request fields of the file format: ``output_format`` (png | jpeg | webp),
``output_compression`` (0–100, jpeg and webp only: OpenAI's meaning, 100 keeps the most
detail) and ``embed_metadata`` (false: no generation parameters in the files). A value left
out gets the model's default, else the deployment's (``SORAMI_GATEWAY_OUTPUT_FORMAT``,
``..._OUTPUT_COMPRESSION``); the stored parameters hold what the job runs with. Also
``max_previews`` (0–4): the job's live previews (``preview`` frames on the event stream), and
``quality`` (``full`` | ``draft``: the fast decode tier, models with a ``draft_decoder``)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError
from sorami_shared.model_registry import ModelSpec
from sorami_shared.output_options import (
    ImageFormat,
    OutputSettings,
    resolve_compression,
    resolve_format,
)

NAMES = ("output_format", "output_compression", "embed_metadata", "max_previews", "quality")


def fields() -> dict[str, Any]:
    return {
        "output_format": (
            Annotated[
                ImageFormat | None,
                Field(
                    validate_default=True,
                    description="png, jpeg or webp; default: the model's, else the deployment's",
                ),
            ],
            None,
        ),
        "output_compression": (
            Annotated[
                int | None,
                Field(
                    ge=0,
                    le=100,
                    validate_default=True,
                    description="jpeg/webp quality 0-100 (100 keeps the most detail, lower "
                    "gives smaller files); not for png",
                ),
            ],
            None,
        ),
        "embed_metadata": (
            bool | None,
            Field(None, description="false: keep the generation's parameters out of the files"),
        ),
        "max_previews": (
            Annotated[int | None, Field(ge=0, le=4)],
            Field(None, description="live previews on the event stream, 0-4; default: 4"),
        ),
        "quality": (
            Annotated[
                Literal["full", "draft"] | None,
                Field(
                    validate_default=True,
                    description="draft: decoded by the model's tiny autoencoder (faster, "
                    "rougher); models with a draft_decoder only; default full (draft-only "
                    "models: draft)",
                ),
            ],
            None,
        ),
    }


def validators(
    specs: dict[str, ModelSpec], default: str, deployment: OutputSettings
) -> dict[str, Any]:
    def spec_of(info: ValidationInfo) -> ModelSpec | None:
        model = info.data.get("model", default)
        name = model.value if isinstance(model, StrEnum) else model
        return specs.get(name) if isinstance(name, str) else None

    def fill_format(cls: Any, value: str | None, info: ValidationInfo) -> str:
        return resolve_format(value, spec_of(info), deployment)

    def fill_compression(cls: Any, value: int | None, info: ValidationInfo) -> int | None:
        fmt = info.data.get("output_format")
        if fmt is None:  # the format itself was refused: its own error says why
            return value
        if value is not None and fmt == "png":
            raise PydanticCustomError(
                "png_compression", "applies to jpeg and webp only, not to png (lossless)"
            )
        return resolve_compression(fmt, value, spec_of(info), deployment)

    def fill_quality(cls: Any, value: str | None, info: ValidationInfo) -> str | None:
        spec = spec_of(info)
        if spec is None:
            return value
        if value == "draft" and not spec.draft_decoder:
            raise PydanticCustomError(
                "no_draft_decoder", "draft needs a model with a draft_decoder (tiny autoencoder)"
            )
        if value == "full" and spec.draft_only:
            raise PydanticCustomError("draft_only", "this model makes drafts only")
        return "draft" if spec.draft_only else value

    return {
        "_fill_quality": field_validator("quality")(fill_quality),
        "_fill_format": field_validator("output_format")(fill_format),
        "_fill_compression": field_validator("output_compression")(fill_compression),
    }
