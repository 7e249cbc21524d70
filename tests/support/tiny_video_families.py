"""The video families' tiny builds (Wan, LTX-Video, CogVideoX, HunyuanVideo); see
tests/support/tiny_families.py."""

from __future__ import annotations

from typing import Any

from tests.support.tiny_components import D, clip, clip_tokenizer, llama_tokenizer, t5, t5_tokenizer


def build_wan() -> Any:
    from diffusers import (
        AutoencoderKLWan,
        FlowMatchEulerDiscreteScheduler,
        WanPipeline,
        WanTransformer3DModel,
    )

    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True])  # fmt: skip
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16,
        out_channels=16, text_dim=D, freq_dim=256, ffn_dim=32, num_layers=1,
        cross_attn_norm=True, qk_norm="rms_norm_across_heads", rope_max_seq_len=32,
    )  # fmt: skip
    return WanPipeline(tokenizer=t5_tokenizer(), text_encoder=t5(umt5=True), vae=vae,
                       scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0),
                       transformer=transformer)  # fmt: skip


def build_ltx() -> Any:
    """The generator's built-in ``tiny-i2v`` (one LTX-Video build for both)."""
    from sorami_generator.tiny_models import build_tiny_i2v

    return build_tiny_i2v()


def build_cogvideox() -> Any:
    from diffusers import (
        AutoencoderKLCogVideoX,
        CogVideoXPipeline,
        CogVideoXTransformer3DModel,
        DDIMScheduler,
    )

    transformer = CogVideoXTransformer3DModel(
        num_attention_heads=4, attention_head_dim=8, in_channels=4, out_channels=4,
        time_embed_dim=2, text_embed_dim=D, num_layers=1, sample_width=4, sample_height=4,
        sample_frames=9, patch_size=2, temporal_compression_ratio=4, max_text_seq_length=226,
    )  # fmt: skip
    vae = AutoencoderKLCogVideoX(
        in_channels=3, out_channels=3, down_block_types=("CogVideoXDownBlock3D",) * 4,
        up_block_types=("CogVideoXUpBlock3D",) * 4, block_out_channels=(8, 8, 8, 8),
        latent_channels=4, layers_per_block=1, norm_num_groups=2, temporal_compression_ratio=4,
    )  # fmt: skip
    return CogVideoXPipeline(tokenizer=t5_tokenizer(), text_encoder=t5(), vae=vae,
                             transformer=transformer, scheduler=DDIMScheduler())  # fmt: skip


def build_hunyuanvideo() -> Any:
    from diffusers import (
        AutoencoderKLHunyuanVideo,
        FlowMatchEulerDiscreteScheduler,
        HunyuanVideoPipeline,
        HunyuanVideoTransformer3DModel,
    )
    from transformers import LlamaConfig, LlamaModel

    tok = llama_tokenizer()
    transformer = HunyuanVideoTransformer3DModel(
        in_channels=4, out_channels=4, num_attention_heads=2, attention_head_dim=10,
        num_layers=1, num_single_layers=1, num_refiner_layers=1, patch_size=1, patch_size_t=1,
        guidance_embeds=True, text_embed_dim=16, pooled_projection_dim=8, rope_axes_dim=(2, 4, 4),
    )  # fmt: skip
    vae = AutoencoderKLHunyuanVideo(
        in_channels=3, out_channels=3, latent_channels=4,
        down_block_types=("HunyuanVideoDownBlock3D",) * 4,
        up_block_types=("HunyuanVideoUpBlock3D",) * 4, block_out_channels=(8, 8, 8, 8),
        layers_per_block=1, act_fn="silu", norm_num_groups=4, scaling_factor=0.476986,
        spatial_compression_ratio=8, temporal_compression_ratio=4, mid_block_add_attention=True,
    )  # fmt: skip
    llama = LlamaModel(LlamaConfig(
        bos_token_id=1, eos_token_id=2, pad_token_id=3, hidden_size=16, intermediate_size=37,
        num_attention_heads=4, num_hidden_layers=2, vocab_size=len(tok), hidden_act="gelu",
    )).eval()  # fmt: skip
    return HunyuanVideoPipeline(
        text_encoder=llama, tokenizer=tok, transformer=transformer, vae=vae,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0), text_encoder_2=clip(hidden=8),
        tokenizer_2=clip_tokenizer(),
    )  # fmt: skip
