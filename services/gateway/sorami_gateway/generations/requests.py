"""Request bodies of ``POST /api/{kind}/generate``, built from the configured limits.

One builder for both kinds: the fields are shared, images add ``num_images`` and videos add
``num_frames`` and ``fps``. Unknown fields are refused (``extra="forbid"``), values are strict
(``"64"`` is not a width) and finite, and ``model`` must be in that kind's allow-list. A field
left out, or null, gets the chosen model's default (the OpenAPI schema says so: each optional
field is nullable with default null); a value the model cannot take is
refused on that field (:mod:`sorami_gateway.generations.model_catalog`), so no job that must
fail is stored.
"""

from __future__ import annotations

import math
import secrets
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Depends
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from sorami_shared.events import GenerationParams, InputFile, Kind
from sorami_shared.model_registry import ModelSpec

from ..rest.deps import Component
from ..settings import GatewaySettings
from ..uploads.refs import DEFAULT_STRENGTH, input_fields
from ..webhooks import urls as webhook_urls
from . import output_fields
from .model_catalog import allowed_models

MAX_SEED = 2**32 - 1


def _no_nul(value: str | None) -> str | None:
    # PostgreSQL text and jsonb cannot hold U+0000: refuse it here, as a 422 on the field.
    if value is not None and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


# Request fields the create path handles beside the event's parameters (the job's webhook, its
# input images, its lifetime): ``to_params`` leaves them out, so a path that cannot handle them
# must refuse them (batches/routes.py), never drop them.
BESIDE_PARAMS = frozenset({*webhook_urls.FIELDS, "image", "mask", "expires_after"})


class GenerateRequestBase(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True)

    webhook_url: str | None = None  # declared per app in build_request_model
    webhook_events: list[str] | None = None

    def to_params(self, inputs: list[InputFile] | None = None) -> GenerationParams:
        """The event's parameters; the gateway picks (and stores) a seed when none was given.
        ``inputs``: the request's input images, resolved (uploads.inputs)."""
        values: dict[str, Any] = self.model_dump(exclude=set(BESIDE_PARAMS))
        if inputs:
            values["inputs"] = inputs
            if "strength" in values and values["strength"] is None:
                values["strength"] = DEFAULT_STRENGTH
        if values.get("seed") is None:
            values["seed"] = secrets.randbelow(MAX_SEED + 1)
        model = values["model"]
        values["model"] = model.value if isinstance(model, StrEnum) else model
        return GenerationParams(**values)


MODEL_DEFAULT = "default: the model's (GET /api/models)"


def _size(limits: Any, name: str) -> Any:
    return (
        Annotated[
            int | None,
            Field(
                ge=limits.min_size,
                le=limits.max_size,
                multiple_of=limits.size_multiple,
                description=f"{name} in pixels, a multiple of {limits.size_multiple}; "
                + MODEL_DEFAULT,
            ),
        ],
        None,
    )


def _bounded(kind: type, low: Any, high: Any) -> Any:
    """A field whose default comes from the model (filled in by ``_fill_defaults``)."""
    extra = {"allow_inf_nan": False} if kind is float else {}
    return (
        Annotated[kind | None, Field(ge=low, le=high, description=MODEL_DEFAULT, **extra)],
        None,
    )


def _model_rules(specs: dict[str, ModelSpec], default: str, fitted: list[str]) -> dict[str, Any]:
    """Validators: fill the chosen model's defaults, then refuse what the model cannot take
    (the error is on the field, e.g. ``["body", "width"]``)."""

    def fill_defaults(cls: Any, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if data.get("model", default) is None:  # null: the default model
            data = {**data, "model": default}
        name = data.get("model", default)
        spec = specs.get(name) if isinstance(name, str) else None
        if spec is None:  # an unknown model: its own error names it
            return data
        filled = {k: v for k, v in spec.request_defaults().items() if data.get(k) is None}
        return {**data, **filled}

    def refuse(value: Any, info: ValidationInfo) -> None:
        model = info.data.get("model")
        name = model.value if isinstance(model, StrEnum) else model
        spec = specs.get(name) if isinstance(name, str) else None
        field = info.field_name
        why = spec.refusal(field, value, dict(info.data)) if spec and field else None
        if why:
            raise PydanticCustomError(
                "model_limit", "{why} for model '{model}'", {"why": why, "model": name}
            )

    def fits_model(cls: Any, value: Any, handler: ValidatorFunctionWrapHandler, info: Any) -> Any:
        # A number beyond what the chosen model takes is refused with the model's limit first:
        # "between 8 and 256 for model 'tiny-video'" is what the client can act on, where the
        # operator's wider cap (1024) would send them to try 1024.
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            refuse(value, info)
        value = handler(value)
        refuse(value, info)
        return value

    return {
        "_fill_defaults": model_validator(mode="before")(fill_defaults),
        "_fits_model": field_validator(*fitted, mode="wrap")(fits_model),
    }


def build_request_model(kind: Kind, settings: GatewaySettings) -> type[GenerateRequestBase]:
    limits = settings.limits_for(kind)
    models = settings.models_for(kind)
    specs = allowed_models(settings, kind)
    model_enum = StrEnum(f"{kind.value.capitalize()}Model", {m: m for m in models})  # type: ignore[misc]
    text = Annotated[
        str, Field(min_length=1, max_length=settings.prompt_max_chars), AfterValidator(_no_nul)
    ]
    fields: dict[str, Any] = {
        "prompt": (text, ...),
        "model": (model_enum | None, model_enum(models[0])),  # null: the default model
        "width": _size(limits, "width"),
        "height": _size(limits, "height"),
        "num_inference_steps": _bounded(int, limits.min_steps, limits.max_steps),
        "guidance_scale": _bounded(float, limits.min_guidance_scale, limits.max_guidance_scale),
        # after guidance_scale: whether the model can use it depends on the guidance
        "negative_prompt": (
            Annotated[
                str | None, Field(max_length=settings.prompt_max_chars), AfterValidator(_no_nul)
            ],
            None,
        ),
        "seed": (Annotated[int | None, Field(ge=0, le=MAX_SEED)], None),
        **webhook_urls.request_fields(settings.webhooks, settings.environment),
        # seconds; at most the operator's retention (lifetimes.py checks, 422 otherwise)
        "expires_after": (Annotated[int | None, Field(ge=1, le=10 * 366 * 86400)], None),
    }
    rules: dict[str, Any] = {}
    if kind == Kind.IMAGE:
        fields["num_images"] = _bounded(int, 1, limits.max_num_images)
        fields.update(output_fields.fields())
        rules.update(output_fields.validators(specs, models[0], settings))
    else:
        fields["num_frames"] = _bounded(int, 1, limits.max_num_frames)
        fields["fps"] = _bounded(int, 1, limits.max_fps)
    fields.update(input_fields(kind == Kind.IMAGE))  # issue 26: the model says if it takes them
    unfitted = ("prompt", "model", "seed", "expires_after", *webhook_urls.FIELDS)
    unfitted += output_fields.NAMES
    fitted = [name for name in fields if name not in unfitted]
    rules.update(_model_rules(specs, models[0], fitted))
    return create_model(  # type: ignore[call-overload,no-any-return]
        f"{kind.value.capitalize()}GenerateRequest",
        __base__=GenerateRequestBase,
        __doc__=f"Parameters of a {kind.value} generation; what a field left out gets, and "
        "what each model takes: GET /api/models.",
        __validators__=rules,
        **fields,
    )


def build_request_models(settings: GatewaySettings) -> RequestModels:
    return {kind: build_request_model(kind, settings) for kind in Kind}


RequestModels = dict[Kind, type[GenerateRequestBase]]
request_models_component: Component[RequestModels] = Component("request_models")
RequestModelsDep = Annotated[RequestModels, Depends(request_models_component)]
