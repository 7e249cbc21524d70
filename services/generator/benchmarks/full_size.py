"""Full-size random-weight models for the throughput benchmark, saved once with
``save_pretrained`` so the generator loads them through ``from_pretrained`` like any model.

- ``sd15-random``: SD 1.x's architecture. diffusers' default ``UNet2DConditionModel`` config
  with ``cross_attention_dim=768`` (860M parameters), an ``AutoencoderKL`` with SD's 4 blocks
  (128/256/512/512), a CLIP ViT-L/14-sized text encoder (768 wide, 12 layers).
- ``animatediff-random``: the same components plus an AnimateDiff v1.5-sized
  ``MotionAdapter`` (320/640/1280/1280, 2 motion layers per block, 32 frames max).

SDXL, FLUX.1-schnell and Wan 2.1 1.3B come from ``families.py`` (``--family``).

Weights are random: nothing is downloaded, and the timing is the same as for trained weights.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from families import build_flux_schnell, build_sdxl, build_wan_1_3b


def _components() -> dict[str, Any]:
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, UNet2DConditionModel
    from sorami_generator.tiny_models import tiny_tokenizer
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=49408, max_position_embeddings=77, bos_token_id=0, eos_token_id=1,
            pad_token_id=1, projection_dim=768, hidden_act="quick_gelu", hidden_size=768,
            intermediate_size=3072, num_attention_heads=12, num_hidden_layers=12,
        )
    )  # fmt: skip
    vae = AutoencoderKL(
        block_out_channels=(128, 256, 512, 512),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        layers_per_block=2,
        sample_size=512,
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1,
        timestep_spacing="trailing",
    )  # fmt: skip
    return {
        "vae": vae,
        "text_encoder": text_encoder,
        "tokenizer": tiny_tokenizer(),
        "unet": UNet2DConditionModel(sample_size=64, cross_attention_dim=768),
        "scheduler": scheduler,
    }


def build_image() -> Any:
    from diffusers import StableDiffusionPipeline

    return StableDiffusionPipeline(
        **_components(), safety_checker=None, feature_extractor=None,
        requires_safety_checker=False,
    )  # fmt: skip


def build_video() -> Any:
    from diffusers import AnimateDiffPipeline, MotionAdapter

    adapter = MotionAdapter(
        block_out_channels=(320, 640, 1280, 1280), motion_layers_per_block=2,
        motion_max_seq_length=32,
    )  # fmt: skip
    return AnimateDiffPipeline(
        **_components(), motion_adapter=adapter, feature_extractor=None, image_encoder=None
    )


BUILDERS = {"sd15-random": (build_image, "image", "StableDiffusionPipeline"),
            "animatediff-random": (build_video, "video", "AnimateDiffPipeline"),
            # families.py: full size, or tiny for --smoke (name + "-tiny")
            "sdxl-random": (build_sdxl, "image", "StableDiffusionXLPipeline"),
            "flux-schnell-random": (build_flux_schnell, "image", "FluxPipeline"),
            "wan-1.3b-random": (build_wan_1_3b, "video", "WanPipeline")}  # fmt: skip
FAMILY_MODELS = {"sdxl": "sdxl-random", "flux-schnell": "flux-schnell-random",
                 "wan-1.3b": "wan-1.3b-random"}  # fmt: skip


def _save_full_size(build: Any, path: Path) -> None:
    """A full-size build initialises its billions of random weights on the GPU where there is
    one (seconds, not minutes on the CPU) and is saved in bf16 there (half the disk; the
    benchmark runs bf16); timing depends only on the shapes."""
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    with torch.device(device):
        pipe = build()
    if device == "cuda":
        pipe = pipe.to(dtype=torch.bfloat16)
    pipe.save_pretrained(path)
    del pipe
    torch.cuda.empty_cache()  # the build's weights are no longer held (a no-op on CPU)


def ensure_saved(name: str, root: Path, *, tiny: bool = False) -> Path:
    """The model's directory under ``root``, building and saving it first if needed."""
    target = Path(root) / (f"{name}-tiny" if tiny else name)
    if (target / "model_index.json").exists():
        return target
    tmp = target.with_name(f".{target.name}-tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    build = BUILDERS[name][0]
    if tiny:
        build(tiny=True).save_pretrained(tmp)
    else:
        _save_full_size(build, tmp)
    tmp.rename(target)
    return target
