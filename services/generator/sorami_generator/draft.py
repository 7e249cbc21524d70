"""The fast decode tier: draft jobs' latents decoded by a tiny autoencoder (diffusers
``AutoencoderTiny``, TAESD-class: ~2.4 M parameters against the VAE decoder's ~50 M) named by
the model entry's ``draft_decoder``. The pipeline runs with ``output_type="latent"`` and the
tiny decoder does the rest, on the launch thread; draft and full jobs never share a call
(``batching.call_key``). Families whose latents are 4-D (SD 1.x/2.x, SDXL, generic UNets).

``builtin:tiny-taesd`` is a random-weight tiny one for tests (matches ``tiny-image``)."""

from __future__ import annotations

import threading
from typing import Any

from .loaded import LoadedPipeline

BUILTIN = "builtin:tiny-taesd"
_decoders: dict[tuple[str, str, str], Any] = {}
_lock = threading.Lock()


def build_tiny_autoencoder() -> Any:
    """Random weights, 2x up-sampling (``tiny-image``'s VAE factor), 4 latent channels."""
    import torch
    from diffusers import AutoencoderTiny

    torch.manual_seed(0)
    blocks = (32, 32)
    return AutoencoderTiny(
        encoder_block_out_channels=blocks,
        decoder_block_out_channels=blocks,
        num_encoder_blocks=(1, 1),
        num_decoder_blocks=(1, 1),
        latent_channels=4,
    )


def decoder_for(loaded: LoadedPipeline, source: str | None = None) -> Any:
    """A tiny autoencoder (the model's ``draft_decoder`` unless ``source`` names another, e.g.
    its ``preview_decoder``) on the model's device and dtype, loaded on first use, kept."""
    source = source or loaded.spec.draft_decoder
    if not source:
        raise ValueError(f"model {loaded.name!r} has no draft_decoder")
    device, dtype = loaded.placement.device, loaded.placement.dtype
    key = (source, str(device), str(dtype))
    with _lock:
        if key not in _decoders:
            if source == BUILTIN:
                decoder = build_tiny_autoencoder()
            else:
                from diffusers import AutoencoderTiny

                decoder = AutoencoderTiny.from_pretrained(source)
            _decoders[key] = decoder.to(device=device, dtype=dtype).eval()
        return _decoders[key]


def decode(loaded: LoadedPipeline, latents: Any, source: str | None = None) -> Any:
    """(n, C, h, w) latents → (n, 3, H, W) pixels in [0, 1] (a torch tensor)."""
    decoder = decoder_for(loaded, source)
    pixels = decoder.decode(latents.to(decoder.dtype)).sample
    return (pixels / 2 + 0.5).clamp(0, 1)


def preview_rgb(loaded: LoadedPipeline, latents: Any) -> Any:
    """One image's latents (C, h, w) → (H, W, 3) uint8 by the model's ``preview_decoder``."""
    import torch

    with torch.inference_mode():
        pixels = decode(loaded, latents[None], loaded.spec.preview_decoder)[0]
    return pixels.mul(255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
