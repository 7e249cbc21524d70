"""What each model family can take: pure data, read by the gateway (which never imports torch)
and the generator (whose ``sorami_generator.families`` holds how each family is called).

A family is found from the model entry: its ``family``, else its ``pipeline`` class, else the
``_class_name`` of a local directory's ``model_index.json`` (``pipeline: auto``). A model whose
family cannot be known before loading (a hub id under ``pipeline: auto``) is ``generic``: its
entry states the rules itself, and the generator refuses to run it if the class it loads belongs
to a known family (the entry must then name it).

Rules:

- ``size_multiple``: width and height divide by it (VAE factor x the transformer's patch);
- ``frame_rule``: the frame counts a video family makes exactly, ``Nk+M`` (``4k+1``: 1, 5, 9,
  ...; CogVideoX ``8k,8k+1``: its VAE decodes latents in pairs, so 8, 9, 16, 17, ... 49);
- ``negative_prompt``: ``cfg`` (classic classifier-free guidance: needs guidance_scale > 1),
  ``true_cfg`` (a second pass with the negative prompt at the model's ``true_cfg_scale``; FLUX.1,
  HunyuanVideo), ``none``;
- ``guidance``: ``cfg`` (classic), ``embedded`` (guidance-distilled: the scale is an input of the
  transformer, no second pass; FLUX.1-dev, HunyuanVideo), ``true_cfg`` (Qwen-Image: the request's
  guidance_scale is the true-CFG scale), ``none`` (FLUX.1-schnell: guidance_scale must be 0);
- ``max_prompt_tokens``: the text encoder's budget; longer prompts are truncated by the pipeline.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict

from .events import Kind

NegativeMode = Literal["cfg", "true_cfg", "none"]
GuidanceMode = Literal["cfg", "embedded", "true_cfg", "none"]
GENERIC = "generic"


class FrameRule(BaseModel):
    """Frame counts of the forms ``step * k + offset`` (k >= 0, count >= 1), one offset or
    several (CogVideoX: ``8k,8k+1``)."""

    model_config = ConfigDict(frozen=True)

    step: int = 1
    offsets: tuple[int, ...] = (0,)

    @classmethod
    def parse(cls, text: str) -> FrameRule:
        if text.strip() == "any":
            return cls()
        step: int | None = None
        offsets: list[int] = []
        for form in text.split(","):
            m = re.fullmatch(r"\s*(\d+)\s*k\s*(?:\+\s*(\d+))?\s*", form)
            if not m or int(m.group(1)) < 1 or step not in (None, int(m.group(1))):
                raise ValueError(
                    f"frame_rule must be 'any' or forms Nk+M of one N (4k+1, 8k,8k+1), got {text!r}"
                )
            step = int(m.group(1))
            offsets.append(int(m.group(2) or 0) % step)
        assert step is not None
        return cls(step=step, offsets=tuple(sorted(set(offsets))))

    def __str__(self) -> str:
        if self.step == 1:
            return "any"
        return ",".join(f"{self.step}k+{o}" if o else f"{self.step}k" for o in self.offsets)

    def fits(self, n: int) -> bool:
        return n >= 1 and n % self.step in self.offsets

    def nearest(self, n: int, low: int = 1, high: int | None = None) -> list[int]:
        """The valid counts next to ``n``: the closest below and the closest above, within
        [low, high]."""
        found = [v for v in range(n - self.step, n + self.step + 1) if self.fits(v) and v >= low]
        if high is not None:
            found = [v for v in found if v <= high]
        below = [v for v in found if v <= n]
        above = [v for v in found if v > n]
        return ([max(below)] if below else []) + ([min(above)] if above else [])

    def within(self, other: FrameRule) -> bool:
        """Every count of this rule is one of ``other``'s."""
        return self.step % other.step == 0 and all(
            o % other.step in other.offsets for o in self.offsets
        )


class FamilyRules(BaseModel):
    """One family's rules (see the module docstring)."""

    model_config = ConfigDict(frozen=True)

    name: str
    title: str
    kind: Kind
    pipelines: tuple[str, ...]
    size_multiple: int
    frame_rule: str | None = None  # videos
    negative_prompt: NegativeMode
    guidance: GuidanceMode  # the default mode
    guidance_modes: tuple[GuidanceMode, ...]  # what an entry may choose
    max_prompt_tokens: int
    true_cfg_scale: float | None = None  # true_cfg negatives: the scale when the entry has none


def _fam(**kw: object) -> FamilyRules:
    kw.setdefault("guidance_modes", (kw["guidance"],))
    return FamilyRules.model_validate(kw)


FAMILIES: dict[str, FamilyRules] = {
    f.name: f
    for f in (
        _fam(name="sd", title="Stable Diffusion 1.x/2.x", kind=Kind.IMAGE,
             pipelines=("StableDiffusionPipeline",), size_multiple=8, negative_prompt="cfg",
             guidance="cfg", max_prompt_tokens=77),
        _fam(name="sdxl", title="SDXL (Turbo, Lightning)", kind=Kind.IMAGE,
             pipelines=("StableDiffusionXLPipeline",), size_multiple=8, negative_prompt="cfg",
             guidance="cfg", max_prompt_tokens=77),
        _fam(name="sd3", title="Stable Diffusion 3/3.5", kind=Kind.IMAGE,
             pipelines=("StableDiffusion3Pipeline",), size_multiple=16, negative_prompt="cfg",
             guidance="cfg", max_prompt_tokens=256),
        _fam(name="flux", title="FLUX.1 (dev, schnell)", kind=Kind.IMAGE,
             pipelines=("FluxPipeline",), size_multiple=16, negative_prompt="true_cfg",
             guidance="embedded", guidance_modes=("embedded", "none"), max_prompt_tokens=512,
             true_cfg_scale=4.0),
        _fam(name="sana", title="Sana", kind=Kind.IMAGE, pipelines=("SanaPipeline",),
             size_multiple=32, negative_prompt="cfg", guidance="cfg", max_prompt_tokens=300),
        _fam(name="qwen-image", title="Qwen-Image", kind=Kind.IMAGE,
             pipelines=("QwenImagePipeline",), size_multiple=16, negative_prompt="true_cfg",
             guidance="true_cfg", max_prompt_tokens=512),
        _fam(name="animatediff", title="AnimateDiff", kind=Kind.VIDEO,
             pipelines=("AnimateDiffPipeline",), size_multiple=8, frame_rule="any",
             negative_prompt="cfg", guidance="cfg", max_prompt_tokens=77),
        _fam(name="wan", title="Wan 2.1/2.2 text-to-video", kind=Kind.VIDEO,
             pipelines=("WanPipeline",), size_multiple=16, frame_rule="4k+1",
             negative_prompt="cfg", guidance="cfg", max_prompt_tokens=512),
        _fam(name="ltx", title="LTX-Video", kind=Kind.VIDEO, pipelines=("LTXPipeline",),
             size_multiple=32, frame_rule="8k+1", negative_prompt="cfg", guidance="cfg",
             max_prompt_tokens=128),
        _fam(name="cogvideox", title="CogVideoX", kind=Kind.VIDEO,
             pipelines=("CogVideoXPipeline",), size_multiple=16, frame_rule="8k,8k+1",
             negative_prompt="cfg", guidance="cfg", max_prompt_tokens=226),
        _fam(name="hunyuanvideo", title="HunyuanVideo", kind=Kind.VIDEO,
             pipelines=("HunyuanVideoPipeline",), size_multiple=16, frame_rule="4k+1",
             negative_prompt="true_cfg", guidance="embedded", max_prompt_tokens=256,
             true_cfg_scale=4.0),
    )
}  # fmt: skip

BY_PIPELINE: dict[str, str] = {p: f.name for f in FAMILIES.values() for p in f.pipelines}


def family_of_pipeline(class_name: str) -> str:
    """The family serving a diffusers pipeline class (``generic`` when none does)."""
    return BY_PIPELINE.get(class_name, GENERIC)


def _read_class_name(source: str) -> str | None:
    """``_class_name`` of a local pipeline directory's ``model_index.json`` (None if absent)."""
    import json
    from pathlib import Path

    index = Path(source) / "model_index.json"
    try:
        return str(json.loads(index.read_text())["_class_name"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


GENERIC_RULES = {"size_multiple": 8, "negative_prompt": "cfg", "guidance": "cfg",
                 "max_prompt_tokens": 77}  # fmt: skip


def complete_entry(data: dict[str, object]) -> dict[str, object]:
    """A raw model entry with its family and every rule filled in from the family; raises
    ValueError, naming the key, where the entry contradicts its family."""
    data = dict(data)
    pipeline = str(data.get("pipeline") or "auto")
    stated = data.get("family")
    found: str | None = None
    if pipeline != "auto":
        found = family_of_pipeline(pipeline)
    elif isinstance(data.get("source"), str):
        cls = _read_class_name(str(data["source"]))
        found = family_of_pipeline(cls) if cls else None
    if stated is not None:
        if stated != GENERIC and stated not in FAMILIES:
            known = ", ".join([*FAMILIES, GENERIC])
            raise ValueError(f"family {stated!r} is not a known family ({known})")
        if found is not None and found != stated:
            raise ValueError(
                f"family {stated!r} contradicts the pipeline "
                f"({pipeline if pipeline != 'auto' else 'model_index.json'}), "
                f"which family {found!r} serves"
            )
    family = str(stated or found or GENERIC)
    data["family"] = family
    rules = FAMILIES.get(family)
    kind = data.get("kind")
    video = str(kind) in ("video", "Kind.VIDEO")
    if rules is None:
        for key, value in GENERIC_RULES.items():
            data.setdefault(key, value)
        if video:
            data.setdefault("frame_rule", "any")
        return data
    if kind is not None and str(getattr(kind, "value", kind)) != rules.kind.value:
        raise ValueError(
            f"kind {kind!r} contradicts family {family!r}, which makes {rules.kind.plural}"
        )
    m = data.get("size_multiple")
    if m is None:
        data["size_multiple"] = rules.size_multiple
    elif not isinstance(m, int) or m % rules.size_multiple:
        raise ValueError(
            f"size_multiple {m} contradicts family {family!r}: "
            f"it must be a multiple of {rules.size_multiple}"
        )
    if rules.frame_rule is not None:
        own = FrameRule.parse(str(data.get("frame_rule") or rules.frame_rule))
        if not own.within(FrameRule.parse(rules.frame_rule)):
            raise ValueError(
                f"frame_rule {own} contradicts family {family!r} (frame counts {rules.frame_rule})"
            )
        data["frame_rule"] = str(own)
    neg = data.setdefault("negative_prompt", rules.negative_prompt)
    if neg not in (rules.negative_prompt, "none"):
        raise ValueError(
            f"negative_prompt {neg!r} contradicts family {family!r} "
            f"({rules.negative_prompt} or none)"
        )
    guidance = data.setdefault("guidance", rules.guidance)
    if guidance not in rules.guidance_modes:
        modes = " or ".join(rules.guidance_modes)
        raise ValueError(f"guidance {guidance!r} contradicts family {family!r} ({modes})")
    data.setdefault("max_prompt_tokens", rules.max_prompt_tokens)
    if neg == "true_cfg" and rules.true_cfg_scale is not None:
        data.setdefault("true_cfg_scale", rules.true_cfg_scale)
    return data
