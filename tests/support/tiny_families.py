"""Tiny random-weight pipelines of every model family, built from diffusers' own classes with
tokenizers made here (no hub), saved with ``save_pretrained`` and served from the directory
like any real model (``pipeline: auto``: the family comes from ``model_index.json``).

Built once per machine under a cache directory keyed by a hash of this file, so a change to a
builder rebuilds and an unchanged one costs nothing. SD 1.x and AnimateDiff are the built-ins
``tiny-image`` / ``tiny-video`` (sorami_generator.tiny_models).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import string
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

SEED = 7
D = 32  # every text encoder's width
CHARS = list(string.printable[:95])


def cache_root() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    digest = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]
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


# --- tokenizers: one token per character, built from a vocabulary written here ---------------


def clip_tokenizer() -> Any:
    from sorami_generator.tiny_models import tiny_tokenizer

    return tiny_tokenizer()


def t5_tokenizer() -> Any:
    from transformers import T5Tokenizer

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -1.0)]
    pieces += [(c, -2.0) for c in CHARS] + [("▁" + c, -1.5) for c in CHARS]
    return T5Tokenizer(vocab=pieces, extra_ids=0)


def _bpe_vocab(*specials: str) -> dict[str, int]:
    vocab = {s: i for i, s in enumerate(specials)}
    for c in [*CHARS, "Ġ", "Ċ"]:
        vocab.setdefault(c, len(vocab))
    return vocab


def qwen_tokenizer() -> Any:
    from transformers import Qwen2Tokenizer

    return Qwen2Tokenizer(
        vocab=_bpe_vocab("<|endoftext|>", "<|im_start|>", "<|im_end|>"), merges=[]
    )


def llama_tokenizer() -> Any:
    from transformers import LlamaTokenizer

    vocab = _bpe_vocab("<unk>", "<s>", "</s>", "<pad>")
    return LlamaTokenizer(vocab=vocab, merges=[], pad_token="<pad>")


def gemma_tokenizer() -> Any:
    from transformers import GemmaTokenizer

    return GemmaTokenizer(vocab=_bpe_vocab("<pad>", "<eos>", "<bos>", "<unk>", "<mask>"), merges=[])


# --- text encoders ------------------------------------------------------------------------


def clip(projection: bool = False, hidden: int = D) -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(
        bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=hidden,
        intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
        vocab_size=len(clip_tokenizer()), max_position_embeddings=77, projection_dim=hidden,
    )  # fmt: skip
    return (CLIPTextModelWithProjection if projection else CLIPTextModel)(config).eval()


def t5(umt5: bool = False) -> Any:
    from transformers import T5Config, T5EncoderModel, UMT5Config, UMT5EncoderModel

    kw = dict(
        vocab_size=len(t5_tokenizer()),
        d_model=D,
        d_kv=8,
        d_ff=37,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
        pad_token_id=0,
        eos_token_id=1,
    )
    if umt5:
        return UMT5EncoderModel(UMT5Config(**kw)).eval()
    return T5EncoderModel(T5Config(**kw)).eval()


def vae_kl(latent: int = 4, **kw: Any) -> Any:
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        block_out_channels=(8, 8, 8, 8), down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=latent, norm_num_groups=4,
        sample_size=32, **kw,
    )  # fmt: skip


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
    from diffusers import (
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXPipeline,
        LTXVideoTransformer3DModel,
    )

    transformer = LTXVideoTransformer3DModel(
        in_channels=8, out_channels=8, patch_size=1, patch_size_t=1, num_attention_heads=4,
        attention_head_dim=8, cross_attention_dim=32, num_layers=1, caption_channels=D,
    )  # fmt: skip
    vae = AutoencoderKLLTXVideo(
        latent_channels=8, block_out_channels=(8, 8, 8, 8), decoder_block_out_channels=(8, 8, 8, 8),
        spatio_temporal_scaling=(True, True, False, False), layers_per_block=(1, 1, 1, 1, 1),
        decoder_spatio_temporal_scaling=(True, True, False, False),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        patch_size=1, patch_size_t=1, encoder_causal=True, decoder_causal=False,
    )  # fmt: skip
    vae.use_framewise_encoding = False
    vae.use_framewise_decoding = False
    return LTXPipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=t5(),
                       tokenizer=t5_tokenizer(), transformer=transformer)  # fmt: skip


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
