"""Tiny random-weight pipelines of every model family, built from diffusers' own classes with
tokenizers made here (no hub), saved with ``save_pretrained`` and served from the directory
like any real model (``pipeline: auto``: the family comes from ``model_index.json``).

Built once per machine under a cache directory keyed by a hash of this file,
tiny_components.py, tiny_video_families.py, sorami_generator/random_parts.py and
tiny_models.py, so a change to a builder rebuilds and an unchanged one costs nothing.
SD 1.x, AnimateDiff and LTX-Video are the built-ins ``tiny-image`` / ``tiny-video`` /
``tiny-i2v`` (sorami_generator.tiny_models).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.tiny_components import (
    D,
    clip,
    clip_tokenizer,
    gemma_tokenizer,
    qwen_tokenizer,
    t5,
    t5_tokenizer,
    vae_kl,
)
from tests.support.tiny_video_families import (
    build_cogvideox,
    build_hunyuanvideo,
    build_ltx,
    build_wan,
)

SEED = 7


def cache_root() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    from sorami_generator import random_parts, tiny_models

    here = Path(__file__)
    code = b"".join(
        p.read_bytes()
        for p in (
            here,
            here.with_name("tiny_components.py"),
            here.with_name("tiny_video_families.py"),
            Path(random_parts.__file__),
            Path(tiny_models.__file__),  # the CLIP tokenizer, the LTX build (tiny-i2v)
        )
    )
    digest = hashlib.sha256(code).hexdigest()[:12]
    return base / "sorami-tests" / f"tiny-families-{digest}"


def ensure_family(name: str) -> Path:
    """The directory of family ``name``'s tiny pipeline, built (atomically) on first use."""
    target = cache_root() / name
    if (target / "model_index.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    try:
        import torch

        torch.manual_seed(SEED)
        BUILDERS[name]().save_pretrained(tmp)
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / "model_index.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


# --- families -----------------------------------------------------------------------------


def build_sdxl() -> Any:
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel

    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=32, in_channels=4,
        out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=(2, 4),
        use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 1), projection_class_embeddings_input_dim=6 * 8 + D,
        cross_attention_dim=2 * D, norm_num_groups=32,
    )  # fmt: skip
    return StableDiffusionXLPipeline(
        vae=vae_kl(), text_encoder=clip(), text_encoder_2=clip(projection=True),
        tokenizer=clip_tokenizer(), tokenizer_2=clip_tokenizer(), unet=unet,
        scheduler=EulerDiscreteScheduler(timestep_spacing="trailing"),
        force_zeros_for_empty_prompt=True,
    )  # fmt: skip


def build_sd3() -> Any:
    from diffusers import (
        FlowMatchEulerDiscreteScheduler,
        SD3Transformer2DModel,
        StableDiffusion3Pipeline,
    )

    transformer = SD3Transformer2DModel(
        sample_size=4, patch_size=2, in_channels=4, num_layers=1, attention_head_dim=8,
        num_attention_heads=4, caption_projection_dim=D, joint_attention_dim=D,
        pooled_projection_dim=2 * D, out_channels=4,
    )  # fmt: skip
    return StableDiffusion3Pipeline(
        transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae_kl(shift_factor=0.0609, scaling_factor=1.5035, use_quant_conv=False,
                   use_post_quant_conv=False),
        text_encoder=clip(True), tokenizer=clip_tokenizer(), text_encoder_2=clip(True),
        tokenizer_2=clip_tokenizer(), text_encoder_3=t5(), tokenizer_3=t5_tokenizer(),
    )  # fmt: skip


def build_flux() -> Any:
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel

    transformer = FluxTransformer2DModel(
        patch_size=1, in_channels=16, num_layers=1, num_single_layers=1, attention_head_dim=16,
        num_attention_heads=2, joint_attention_dim=D, pooled_projection_dim=D,
        axes_dims_rope=(4, 4, 8), guidance_embeds=True,
    )  # fmt: skip
    return FluxPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(), text_encoder=clip(),
        tokenizer=clip_tokenizer(), text_encoder_2=t5(), tokenizer_2=t5_tokenizer(),
        transformer=transformer,
        vae=vae_kl(shift_factor=0.0609, scaling_factor=1.5035, use_quant_conv=False,
                   use_post_quant_conv=False),
    )  # fmt: skip


def build_sana() -> Any:
    from diffusers import (
        AutoencoderDC,
        FlowMatchEulerDiscreteScheduler,
        SanaPipeline,
        SanaTransformer2DModel,
    )
    from transformers import Gemma2Config, Gemma2Model

    tok = gemma_tokenizer()
    transformer = SanaTransformer2DModel(
        patch_size=1, in_channels=4, out_channels=4, num_layers=1, num_attention_heads=2,
        attention_head_dim=4, num_cross_attention_heads=2, cross_attention_head_dim=4,
        cross_attention_dim=8, caption_channels=8, sample_size=32,
    )  # fmt: skip
    vae = AutoencoderDC(
        in_channels=3, latent_channels=4, attention_head_dim=2,
        encoder_block_types=("ResBlock", "EfficientViTBlock"),
        decoder_block_types=("ResBlock", "EfficientViTBlock"),
        encoder_block_out_channels=(8, 8), decoder_block_out_channels=(8, 8),
        encoder_qkv_multiscales=((), (5,)), decoder_qkv_multiscales=((), (5,)),
        encoder_layers_per_block=(1, 1), decoder_layers_per_block=(1, 1),
        downsample_block_type="conv", upsample_block_type="interpolate",
        decoder_norm_types="rms_norm", decoder_act_fns="silu", scaling_factor=0.41407,
    )  # fmt: skip
    encoder = Gemma2Model(Gemma2Config(
        head_dim=16, hidden_size=8, intermediate_size=16, num_attention_heads=2,
        num_hidden_layers=1, num_key_value_heads=2, vocab_size=len(tok),
        attn_implementation="eager", pad_token_id=0, bos_token_id=2, eos_token_id=1,
    )).eval()  # fmt: skip
    return SanaPipeline(tokenizer=tok, text_encoder=encoder, vae=vae, transformer=transformer,
                        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0))  # fmt: skip


def build_qwen() -> Any:
    from diffusers import (
        AutoencoderKLQwenImage,
        FlowMatchEulerDiscreteScheduler,
        QwenImagePipeline,
        QwenImageTransformer2DModel,
    )
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    tok = qwen_tokenizer()
    n = len(tok)
    transformer = QwenImageTransformer2DModel(
        patch_size=2, in_channels=16, out_channels=4, num_layers=1, attention_head_dim=16,
        num_attention_heads=2, joint_attention_dim=16, guidance_embeds=False,
        axes_dims_rope=(8, 4, 4),
    )  # fmt: skip
    vae = AutoencoderKLQwenImage(
        base_dim=24, z_dim=4, dim_mult=[1, 2, 4], num_res_blocks=1,
        temperal_downsample=[False, True], latents_mean=[0.0] * 4, latents_std=[1.0] * 4,
    )  # fmt: skip
    config = Qwen2_5_VLConfig(
        text_config={"hidden_size": 16, "intermediate_size": 16, "num_hidden_layers": 1,
                     "num_attention_heads": 2, "num_key_value_heads": 2, "vocab_size": n + 3,
                     "rope_scaling": {"mrope_section": [1, 1, 2], "rope_type": "default",
                                      "type": "default"}, "rope_theta": 1000000.0},
        vision_config={"depth": 1, "hidden_size": 16, "intermediate_size": 16, "num_heads": 2,
                       "out_hidden_size": 16},
        hidden_size=16, vocab_size=n + 3, vision_start_token_id=n, vision_end_token_id=n + 1,
        vision_token_id=n + 2, image_token_id=n + 2, video_token_id=n + 2,
    )  # fmt: skip
    encoder = Qwen2_5_VLForConditionalGeneration(config).eval()
    return QwenImagePipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=encoder,
        tokenizer=tok,
        transformer=transformer,
    )


BUILDERS: dict[str, Callable[[], Any]] = {
    "sdxl": build_sdxl,
    "sd3": build_sd3,
    "flux": build_flux,
    "sana": build_sana,
    "qwen-image": build_qwen,
    "wan": build_wan,
    "ltx": build_ltx,
    "cogvideox": build_cogvideox,
    "hunyuanvideo": build_hunyuanvideo,
}


# --- registry entries ---------------------------------------------------------------------

VIDEO = {"wan": 5, "ltx": 9, "cogvideox": 9, "hunyuanvideo": 5}  # default frames, of each form


def model_entries() -> dict[str, dict[str, Any]]:
    """``tiny-<family>`` → a registry entry serving the built directory (``pipeline: auto``)."""
    entries: dict[str, dict[str, Any]] = {}
    for name in BUILDERS:
        video = name in VIDEO
        defaults: dict[str, Any] = {"width": 32, "height": 32, "num_inference_steps": 2}
        if video:
            defaults.update(num_frames=VIDEO[name], fps=8)
        if name == "hunyuanvideo":  # the real template's crop (95 tokens) assumes Llama's BPE
            defaults["prompt_template"] = {"template": "{}", "crop_start": 0}
        entries[f"tiny-{name}"] = {
            "source": str(ensure_family(name)),
            "kind": "video" if video else "image",
            "defaults": defaults,
            "max_width": 64,
            "max_height": 64,
            "max_steps": 4,
            "max_frames": 17,
        } if video else {
            "source": str(ensure_family(name)),
            "kind": "image",
            "defaults": defaults,
            "max_width": 64,
            "max_height": 64,
            "max_steps": 4,
        }  # fmt: skip
    return entries
