"""The model registry: which models exist, their kind, their request defaults and limits.

ONE source for the gateway (which fills defaults and refuses what a model cannot take, before
anything is stored) and the generator (which loads and runs them). Models come from three
places, later ones overriding earlier ones by name:

1. the built-ins ``tiny-image``, ``tiny-video``, ``tiny-i2v`` (random weights, built on use);
2. ``MODELS_FILE``: a JSON or YAML file holding a mapping name → model (or ``models:`` → it);
3. ``MODELS``: the same mapping as JSON in the environment.

Each service reads them with its own prefix (``SORAMI_GATEWAY_MODELS_FILE``,
``SORAMI_GENERATOR_MODELS_FILE``): point both at the same file. A model entry::

    {"source": "stabilityai/sd-turbo",        # hub id or local directory
     "kind": "image",                          # image | video
     "pipeline": "auto",                       # a diffusers class name, or auto (model_index.json)
     "defaults": {"width": 512, "height": 512, "num_inference_steps": 1, "guidance_scale": 0.0},
     "max_width": 768, "max_height": 768, "max_steps": 8}

``defaults`` holds the request defaults (``width``, ``height``, ``num_inference_steps``,
``guidance_scale``, ``num_images``; videos ``num_frames``, ``fps``); any other key is an extra
keyword argument of the pipeline call.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from .events import Kind
from .model_families import FAMILIES, FrameRule, GuidanceMode, NegativeMode, complete_entry
from .model_inputs import INPUT_FIELDS, input_refusal
from .output_options import ModelOutputOptions

BUILTIN_PREFIX = "builtin:"
# Keys of ModelSpec.defaults that are request parameters, not pipeline kwargs.
REQUEST_KEYS = (
    "width",
    "height",
    "num_inference_steps",
    "guidance_scale",
    "num_images",
    "num_frames",
    "fps",
)
VIDEO_ONLY = ("num_frames", "fps")
IMAGE_ONLY = ("num_images",)


class ModelSpec(ModelOutputOptions):
    """One entry of the model registry (output options: sorami_shared.output_options)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(
        description="hub id (pin revision), local directory, s3://bucket/prefix, builtin:<name>"
    )
    kind: Kind
    pipeline: str = Field(default="auto", description="diffusers pipeline class name, or auto")
    defaults: dict[str, Any] = Field(default_factory=dict)
    variant: str | None = None
    revision: str | None = None
    # What the model can take; the gateway refuses anything else (422 naming the field).
    # The family's rules (model_families.py), filled in from the family where left out.
    family: str = Field(default="generic", description="model family; found from the pipeline")
    size_multiple: int = Field(default=8, ge=1)
    frame_rule: str | None = Field(default=None, description="videos: e.g. 4k+1, 8k+1, any")
    negative_prompt: NegativeMode = "cfg"
    guidance: GuidanceMode = "cfg"
    max_prompt_tokens: int = Field(default=77, ge=1)
    true_cfg_scale: float | None = Field(default=None, gt=1)
    min_width: int | None = None  # default: size_multiple
    min_height: int | None = None
    max_width: int = 2048
    max_height: int = 2048
    max_steps: int = 200
    max_images: int = 8
    max_frames: int = 256
    max_fps: int = 60
    max_guidance_scale: float = 50.0
    # Input images it takes (issue 26): "image" (img2img, or a video's first frame), "mask"
    # (inpainting). The generator reuses the loaded weights (diffusers' from_pipe).
    inputs: list[Literal["image", "mask"]] = Field(default_factory=list)
    # Batching and speed, the generator's alone (docs/batching.md): compile the denoiser (and
    # VAE decoder) with torch.compile, warmed up at start; cap one call's images (x frames).
    compile: bool = False
    max_batch_images: int | None = Field(default=None, ge=1)
    # Memory, the generator's alone (its memory.py): offload weights to the CPU between uses
    # (model: whole components; sequential: layer by layer), VAE tiling and slicing.
    offload: Literal["none", "model", "sequential"] = "none"
    vae_tiling: bool = False
    vae_slicing: bool = False

    @model_validator(mode="before")
    @classmethod
    def _complete_from_family(cls, data: Any) -> Any:
        return complete_entry(data) if isinstance(data, dict) else data

    @property
    def frames(self) -> FrameRule | None:
        return FrameRule.parse(self.frame_rule) if self.frame_rule else None

    def rules(self) -> dict[str, Any]:
        """What ``GET /api/models`` says of the model's family and the fields it honours."""
        fam = FAMILIES.get(self.family)
        return {
            "family": self.family,
            "family_title": fam.title if fam else "generic (rules from the model entry)",
            "size_multiple": self.size_multiple,
            "frame_rule": self.frame_rule,
            "negative_prompt": self.negative_prompt,
            "guidance": self.guidance,
            "max_prompt_tokens": self.max_prompt_tokens,
            "inputs": list(self.inputs),
        }

    @property
    def builtin(self) -> str | None:
        return (
            self.source[len(BUILTIN_PREFIX) :] if self.source.startswith(BUILTIN_PREFIX) else None
        )

    @property
    def pipeline_kwargs(self) -> dict[str, Any]:
        """``defaults`` that are not request parameters: passed to the pipeline as they are."""
        return {k: v for k, v in self.defaults.items() if k not in REQUEST_KEYS}

    def limits(self) -> dict[str, Any]:
        """The bounds of each request field; None for a field the kind does not take
        (``max_frames``/``max_fps`` for images, ``max_images`` for videos)."""
        video = self.kind == Kind.VIDEO
        return {
            "size_multiple": self.size_multiple,
            "min_width": self.min_width or self.size_multiple,
            "max_width": self.max_width,
            "min_height": self.min_height or self.size_multiple,
            "max_height": self.max_height,
            "max_steps": self.max_steps,
            "max_images": None if video else self.max_images,
            "max_frames": self.max_frames if video else None,
            "max_fps": self.max_fps if video else None,
            "max_guidance_scale": self.max_guidance_scale,
        }

    def request_defaults(self) -> dict[str, Any]:
        """Every request field's default for this model: ``defaults``, else a value within
        the limits (512 px, 25 steps, guidance 7.5, 16 frames at 8 fps, capped)."""
        limits = self.limits()
        m = self.size_multiple
        values: dict[str, Any] = {
            "width": max(limits["min_width"], min(512, self.max_width) // m * m),
            "height": max(limits["min_height"], min(512, self.max_height) // m * m),
            "num_inference_steps": min(25, self.max_steps),
            "guidance_scale": 0.0 if self.guidance == "none" else min(7.5, self.max_guidance_scale),
        }
        if self.kind == Kind.VIDEO:
            frames = min(16, self.max_frames)
            rule = self.frames
            if rule is not None and not rule.fits(frames):
                frames = (rule.nearest(frames, high=self.max_frames) or [frames])[0]
            values.update(num_frames=frames, fps=min(8, self.max_fps))
        else:
            values["num_images"] = 1
        values.update({k: v for k, v in self.defaults.items() if k in values})
        return values

    @model_validator(mode="after")
    def _defaults_within_limits(self) -> ModelSpec:
        if self.kind == Kind.IMAGE and self.frame_rule is not None:
            raise ValueError("frame_rule applies to video models")
        other = VIDEO_ONLY if self.kind == Kind.IMAGE else IMAGE_ONLY
        wrong = [k for k in other if k in self.defaults]
        if wrong:
            raise ValueError(f"defaults {wrong} do not apply to {self.kind.value} models")
        bad = [k for k, v in self.request_defaults().items() if self.refusal(k, v)]
        if bad:
            raise ValueError(f"defaults outside the model's limits: {', '.join(bad)}")
        return self

    def refusal(self, name: str, value: Any, given: dict[str, Any] | None = None) -> str | None:
        """Why this model cannot take ``value`` for the request field ``name`` (None: it can);
        ``given``: the request's other fields (a negative prompt needs guidance > 1)."""
        if name == "negative_prompt":
            return family_refusal(self, name, value, given or {})
        if name in INPUT_FIELDS:
            return input_refusal(self, name, value, given or {})
        limits = self.limits()
        bounds = {
            "width": (limits["min_width"], self.max_width),
            "height": (limits["min_height"], self.max_height),
            "num_inference_steps": (1, self.max_steps),
            "guidance_scale": (0, self.max_guidance_scale),
            "num_images": (1, limits["max_images"]),
            "num_frames": (1, limits["max_frames"]),
            "fps": (1, limits["max_fps"]),
        }
        if name not in bounds or value is None:
            return None
        if bounds[name][1] is None:
            return f"does not apply to {self.kind.value} models"
        low, high = bounds[name]
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not low <= value <= high
        ):
            return f"must be between {low} and {high}"
        if name in ("width", "height") and value % self.size_multiple:
            return f"must be a multiple of {self.size_multiple} for {self.family} models"
        return family_refusal(self, name, value, given or {})


def family_refusal(spec: ModelSpec, name: str, value: Any, given: dict[str, Any]) -> str | None:
    """The family's rules on a request field (sizes are checked with the limits)."""
    if name == "negative_prompt":
        if not value:
            return None
        if spec.negative_prompt == "none":
            return f"is not supported by {spec.family} models (they have no negative conditioning)"
        guidance = given.get("guidance_scale")
        two_pass = spec.negative_prompt == "cfg" or spec.guidance == "true_cfg"
        if two_pass and isinstance(guidance, int | float) and guidance <= 1:
            return f"needs guidance_scale > 1 (classifier-free guidance), got {guidance}"
        return None
    if name == "guidance_scale" and spec.guidance == "none" and value not in (None, 0):
        return "is not used by this model (it is guidance-distilled); leave it out or send 0"
    rule = spec.frames
    if (
        name == "num_frames"
        and rule is not None
        and isinstance(value, int)
        and not rule.fits(value)
    ):
        near = " or ".join(str(v) for v in rule.nearest(value, high=spec.max_frames))
        return f"must be of the form {rule} for {spec.family} models (nearest: {near})"
    return None


BUILTIN_MODELS: dict[str, ModelSpec] = {
    # Random weights: noise either way, so the defaults are small and quick on a CPU.
    "tiny-image": ModelSpec(
        source=f"{BUILTIN_PREFIX}tiny-image",
        kind=Kind.IMAGE,
        pipeline="StableDiffusionPipeline",
        defaults={"width": 64, "height": 64, "num_inference_steps": 4},
        max_width=256,
        max_height=256,
        max_steps=50,
        inputs=["image", "mask"],
    ),
    "tiny-video": ModelSpec(
        source=f"{BUILTIN_PREFIX}tiny-video",
        kind=Kind.VIDEO,
        pipeline="AnimateDiffPipeline",
        # 2 steps: the motion module over 8 frames costs ~10x an image step on a CPU
        defaults={"width": 64, "height": 64, "num_inference_steps": 2, "num_frames": 8, "fps": 8},
        max_width=256,
        max_height=256,
        max_steps=50,
        max_frames=32,  # the tiny motion adapter's max_seq_length
        max_fps=60,
    ),
    "tiny-i2v": ModelSpec(  # LTX-Video: text-to-video, or image-to-video with an ``image``
        source=f"{BUILTIN_PREFIX}tiny-i2v",
        kind=Kind.VIDEO,
        pipeline="LTXPipeline",
        defaults={"width": 64, "height": 64, "num_inference_steps": 2, "num_frames": 9, "fps": 8},
        max_width=256,
        max_height=256,
        max_steps=50,
        max_frames=33,
        max_fps=60,
        inputs=["image"],
    ),
}


def load_models_file(path: Path) -> dict[str, ModelSpec]:
    text = Path(path).read_text()
    if Path(path).suffix.lower() in {".yaml", ".yml"}:
        import yaml

        raw = yaml.safe_load(text) or {}
    else:
        raw = json.loads(text)
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping of model name to model entry")
    raw = raw.get("models", raw) if isinstance(raw.get("models"), dict) else raw
    return {name: ModelSpec.model_validate(entry) for name, entry in raw.items()}


class ModelRegistrySettings(BaseModel):
    """Mixed into each service's settings: ``MODELS_FILE`` and ``MODELS`` with its prefix."""

    models: dict[str, ModelSpec] = Field(
        default_factory=dict, description="JSON: name → model entry (added to the built-ins)"
    )
    models_file: Path | None = Field(default=None, description="JSON or YAML: name → model")

    _registry: dict[str, ModelSpec] = PrivateAttr(default_factory=dict)

    @field_validator("models", mode="before")
    @classmethod
    def _models_from_json(cls, value: Any) -> Any:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else {}
        return value

    @model_validator(mode="after")
    def _load_registry(self) -> Any:
        _ = self.registry  # a missing or malformed MODELS_FILE fails at start
        return self

    @property
    def registry(self) -> dict[str, ModelSpec]:
        """Every configured model: built-ins, then the file, then ``models``."""
        if not self._registry:
            merged = dict(BUILTIN_MODELS)
            if self.models_file is not None:
                merged.update(load_models_file(self.models_file))
            merged.update(self.models)
            self._registry = merged
        return self._registry
