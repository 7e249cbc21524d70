"""Image file formats and what travels with them: OpenAI's ``output_format`` (png | jpeg |
webp) and ``output_compression`` (0–100: 100, the default, keeps the most detail; lower gives
smaller files; jpeg and webp only), the operator's deployment defaults and the per-model ones.

Used by the gateway (fills each request's values, refuses bad ones on the field) and the
generator (encodes, embeds the generation's parameters unless turned off)."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import BaseModel, Field, model_validator

ImageFormat = Literal["png", "jpeg", "webp"]
FORMATS: tuple[str, ...] = get_args(ImageFormat)
Compression = Annotated[int, Field(ge=0, le=100)]
MIME_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp"}
LOSSY = ("jpeg", "webp")
DEFAULT_COMPRESSION = 100  # OpenAI's default


class ModelOutputOptions(BaseModel):
    """A model entry's output options (mixed into ``ModelSpec``): its images' default format
    and compression (else the deployment's); the fast decode tier: ``draft_decoder`` names a
    tiny autoencoder (diffusers ``AutoencoderTiny``: a local directory, a hub id, or
    ``builtin:tiny-taesd``) that decodes jobs asking ``quality: "draft"``, and ``draft_only``
    makes every job of the model a draft; ``preview_decoder`` (the same kinds of source) decodes
    its live previews instead of the family's latent→RGB factors (sharper, a little dearer)."""

    output_format: ImageFormat | None = None
    output_compression: Compression | None = None
    draft_decoder: str | None = None
    draft_only: bool = False
    preview_decoder: str | None = None

    @model_validator(mode="after")
    def _draft_only_needs_a_decoder(self) -> ModelOutputOptions:
        if self.draft_only and not self.draft_decoder:
            raise ValueError("draft_only needs a draft_decoder (a tiny autoencoder)")
        return self


class OutputSettings(BaseModel):
    """The deployment's defaults (mixed into the gateway's and the generator's settings):
    ``OUTPUT_FORMAT``, ``OUTPUT_COMPRESSION``; ``EMBED_METADATA=false`` keeps the generation's
    parameters out of every file (the generator's switch; a request can also turn it off)."""

    output_format: ImageFormat = "png"
    output_compression: Compression = DEFAULT_COMPRESSION
    embed_metadata: bool = True


def resolve_format(
    requested: str | None, model: ModelOutputOptions | None, deployment: OutputSettings
) -> str:
    """The request's format, else the model's, else the deployment's."""
    if requested is not None:
        return requested
    if model is not None and model.output_format is not None:
        return model.output_format
    return deployment.output_format


def resolve_compression(
    fmt: str,
    requested: int | None,
    model: ModelOutputOptions | None,
    deployment: OutputSettings,
) -> int | None:
    """None for png (lossless); else the request's, the model's, the deployment's."""
    if fmt not in LOSSY:
        return None
    if requested is not None:
        return requested
    if model is not None and model.output_compression is not None:
        return model.output_compression
    return deployment.output_compression
