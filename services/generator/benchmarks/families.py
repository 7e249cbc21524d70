"""Random-weight SDXL, FLUX.1-schnell and Wan 2.1 T2V 1.3B builds for the throughput benchmark
(issue 22 item 7): the published architectures at full size (``tiny=False``), or the same
classes shrunk for the CPU smoke run (``tiny=True``). Tokenizers are built in code (a byte-level
CLIP BPE, a character-level T5 unigram), the encoders and VAEs by sorami_generator.random_parts
(which the tests' tiny families use too): nothing is downloaded; timing does not depend on what
the weights or the vocabulary hold, only on their shapes.

Full-size parameter counts: SDXL UNet 2.6B + CLIP-L + OpenCLIP-bigG; FLUX.1 transformer 11.9B +
CLIP-L + T5-XXL (4.8B); Wan 1.3B transformer + UMT5-XXL (5.7B) + the Wan VAE.
"""

from __future__ import annotations

from typing import Any

from sorami_generator.random_parts import clip_text_encoder, kl_vae, t5_encoder, t5_tokenizer


def _clip(width: int, layers: int, *, projection: bool = False) -> Any:
    return clip_text_encoder(
        projection=projection, vocab_size=49408 if width > 64 else 1024,
        max_position_embeddings=77, bos_token_id=0, eos_token_id=1, pad_token_id=1,
        hidden_size=width, intermediate_size=4 * width, projection_dim=width,
        num_attention_heads=max(1, width // 64), num_hidden_layers=layers, hidden_act="gelu",
    )  # fmt: skip


def _t5(tiny: bool, *, umt5: bool = False) -> Any:
    size = (
        {"d_model": 32, "d_ff": 64, "num_layers": 2, "num_heads": 4, "d_kv": 8}
        if tiny
        else {"d_model": 4096, "d_ff": 10240, "num_layers": 24, "num_heads": 64, "d_kv": 64}
    )
    # tiny: room for the shared tokenizer's pieces (fewer than 256)
    vocab = 256384 if umt5 and not tiny else 32128 if not tiny else 256
    return t5_encoder(umt5=umt5, vocab_size=vocab, feed_forward_proj="gated-gelu", **size)


def _sd_vae(tiny: bool, latent: int = 4, **extra: Any) -> Any:
    return kl_vae(
        (32, 64) if tiny else (128, 256, 512, 512), latent=latent,
        layers_per_block=1 if tiny else 2, norm_num_groups=32, **extra,
    )  # fmt: skip


def build_sdxl(tiny: bool = False) -> Any:
    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from sorami_generator.tiny_models import tiny_tokenizer

    torch.manual_seed(0)
    w1, w2 = (32, 32) if tiny else (768, 1280)
    unet = UNet2DConditionModel(
        sample_size=32 if tiny else 128,
        block_out_channels=(32, 64) if tiny else (320, 640, 1280),
        layers_per_block=1 if tiny else 2,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D")
        + (() if tiny else ("CrossAttnDownBlock2D",)),
        up_block_types=(() if tiny else ("CrossAttnUpBlock2D",))
        + ("CrossAttnUpBlock2D", "UpBlock2D"),
        transformer_layers_per_block=(1, 2) if tiny else (1, 2, 10),
        attention_head_dim=(2, 4) if tiny else (5, 10, 20),
        cross_attention_dim=w1 + w2,
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8 if tiny else 256,
        projection_class_embeddings_input_dim=(8 * 6 + w2) if tiny else 2816,
        norm_num_groups=32,
    )
    return StableDiffusionXLPipeline(
        vae=_sd_vae(tiny, scaling_factor=0.13025),
        text_encoder=_clip(w1, 2 if tiny else 12),
        text_encoder_2=_clip(w2, 2 if tiny else 32, projection=True),
        tokenizer=tiny_tokenizer(), tokenizer_2=tiny_tokenizer(), unet=unet,
        scheduler=EulerDiscreteScheduler(
            beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
            steps_offset=1, timestep_spacing="trailing",
        ),
    )  # fmt: skip


def build_flux_schnell(tiny: bool = False) -> Any:
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
    from sorami_generator.tiny_models import tiny_tokenizer

    torch.manual_seed(0)
    clip_w = 32 if tiny else 768
    transformer = (
        FluxTransformer2DModel(
            patch_size=1,
            in_channels=64,
            num_layers=1,
            num_single_layers=1,
            attention_head_dim=16,
            num_attention_heads=2,
            joint_attention_dim=32,
            pooled_projection_dim=clip_w,
            axes_dims_rope=(4, 6, 6),
        )  # fmt: skip
        if tiny
        else FluxTransformer2DModel(guidance_embeds=False)  # the published defaults
    )
    vae = _sd_vae(
        tiny, latent=16, use_quant_conv=False, use_post_quant_conv=False,
        shift_factor=0.1159, scaling_factor=0.3611,
    )  # fmt: skip
    return FluxPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(shift=1.0, use_dynamic_shifting=False),
        vae=vae, text_encoder=_clip(clip_w, 2 if tiny else 12), tokenizer=tiny_tokenizer(),
        text_encoder_2=_t5(tiny), tokenizer_2=t5_tokenizer(), transformer=transformer,
    )  # fmt: skip


def build_wan_1_3b(tiny: bool = False) -> Any:
    import torch
    from diffusers import (
        AutoencoderKLWan,
        UniPCMultistepScheduler,
        WanPipeline,
        WanTransformer3DModel,
    )

    torch.manual_seed(0)
    if tiny:
        transformer = WanTransformer3DModel(
            num_attention_heads=2, attention_head_dim=12, text_dim=32, freq_dim=32, ffn_dim=32,
            num_layers=2, rope_max_seq_len=32,
        )  # fmt: skip
        vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1)
    else:
        transformer = WanTransformer3DModel(num_attention_heads=12, ffn_dim=8960, num_layers=30)
        vae = AutoencoderKLWan()
    return WanPipeline(
        tokenizer=t5_tokenizer(), text_encoder=_t5(tiny, umt5=True), vae=vae,
        transformer=transformer,
        scheduler=UniPCMultistepScheduler(
            prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0
        ),
    )  # fmt: skip
