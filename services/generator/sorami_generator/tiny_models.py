"""The built-in tiny random-weight pipelines: ``tiny-image`` (Stable Diffusion family) and
``tiny-video`` (AnimateDiff, a text-to-video family built on the same SD components) and
``tiny-i2v`` (LTX-Video: text-to-video, and image-to-video through LTXImageToVideoPipeline).

They are built in code with a fixed seed, written with ``save_pretrained`` into the model cache,
and from then on loaded by the same ``from_pretrained`` code as any real model. The build is
atomic (a temporary sibling directory renamed into place), so two processes racing to build
the same model both end with one complete copy. They make noise, quickly.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

BUILD_VERSION = 1  # bump when the architecture below changes; old builds are left unused
SEED = 1234

# Small but real: two resolution levels with cross-attention, 32 channels.
_TEXT_DIM = 32
_BLOCKS = (32, 64)


def model_dir(cache_dir: Path, name: str) -> Path:
    return Path(cache_dir) / f"{name}-v{BUILD_VERSION}"


def ensure_built(name: str, cache_dir: Path) -> Path:
    """The directory of built-in model ``name``, building it first if needed."""
    builders: dict[str, Callable[[], Any]] = {
        "tiny-image": build_tiny_image,
        "tiny-video": build_tiny_video,
        "tiny-i2v": build_tiny_i2v,
    }
    if name not in builders:
        raise KeyError(f"no built-in model {name!r}; known: {sorted(builders)}")
    target = model_dir(cache_dir, name)
    if (target / "model_index.json").exists():
        return target
    from .quiet import quiet_libraries

    quiet_libraries()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        builders[name]().save_pretrained(tmp)
        try:
            os.rename(tmp, target)  # atomic; fails if another process got there first
        except OSError:
            if not (target / "model_index.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def tiny_tokenizer() -> Any:
    """A byte-level CLIP BPE tokenizer with a minimal vocabulary: every byte, as a word piece
    and as a word end, plus the two special tokens. Any text tokenizes (one token per byte)."""
    from transformers import CLIPTokenizer

    chars = _bytes_to_unicode()
    vocab: dict[str, int] = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in chars:
        vocab[c] = len(vocab)
    for c in chars:
        vocab[c + "</w>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def _bytes_to_unicode() -> list[str]:
    """GPT-2/CLIP's reversible byte → printable character table."""
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    extra = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + extra)
            extra += 1
    return [chr(c) for c in cs]


def _sd_components() -> dict[str, Any]:
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    tokenizer = tiny_tokenizer()
    torch.manual_seed(SEED)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
            hidden_size=_TEXT_DIM,
            intermediate_size=64,
            num_attention_heads=4,
            num_hidden_layers=2,
            vocab_size=len(tokenizer),
            max_position_embeddings=77,
            projection_dim=_TEXT_DIM,
        )
    ).eval()
    unet = UNet2DConditionModel(
        sample_size=32,
        in_channels=4,
        out_channels=4,
        block_out_channels=_BLOCKS,
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=_TEXT_DIM,
        attention_head_dim=8,
        norm_num_groups=32,
    )
    vae = AutoencoderKL(
        sample_size=64,
        in_channels=3,
        out_channels=3,
        block_out_channels=_BLOCKS,
        down_block_types=("DownEncoderBlock2D",) * len(_BLOCKS),
        up_block_types=("UpDecoderBlock2D",) * len(_BLOCKS),
        latent_channels=4,
        norm_num_groups=32,
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        steps_offset=1,
        timestep_spacing="trailing",
    )
    return {
        "tokenizer": tokenizer,
        "text_encoder": text_encoder,
        "unet": unet,
        "vae": vae,
        "scheduler": scheduler,
    }


def build_tiny_image() -> Any:
    from diffusers import StableDiffusionPipeline

    return StableDiffusionPipeline(
        **_sd_components(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def build_tiny_video() -> Any:
    import torch
    from diffusers import AnimateDiffPipeline, MotionAdapter

    components = _sd_components()
    torch.manual_seed(SEED + 1)
    adapter = MotionAdapter(
        block_out_channels=_BLOCKS,
        motion_layers_per_block=1,
        motion_norm_num_groups=32,
        motion_num_attention_heads=2,
        motion_max_seq_length=32,
    )
    return AnimateDiffPipeline(
        **components, motion_adapter=adapter, feature_extractor=None, image_encoder=None
    )


def build_tiny_i2v() -> Any:
    """LTX-Video, tiny: its image-to-video sibling (a video's first frame) is made from it by
    ``from_pipe`` (sorami_generator.inputs)."""
    import torch
    from diffusers import (
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXPipeline,
        LTXVideoTransformer3DModel,
    )

    from .random_parts import t5_encoder, t5_tokenizer

    torch.manual_seed(SEED + 2)
    tokenizer = t5_tokenizer()
    text_encoder = t5_encoder(
        vocab_size=len(tokenizer), d_model=_TEXT_DIM, d_kv=8, d_ff=37, num_layers=2,
        num_heads=4, relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1,
    )  # fmt: skip
    transformer = LTXVideoTransformer3DModel(
        in_channels=8, out_channels=8, patch_size=1, patch_size_t=1, num_attention_heads=4,
        attention_head_dim=8, cross_attention_dim=32, num_layers=1, caption_channels=_TEXT_DIM,
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
    return LTXPipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae,
                       text_encoder=text_encoder, tokenizer=tokenizer,
                       transformer=transformer)  # fmt: skip
