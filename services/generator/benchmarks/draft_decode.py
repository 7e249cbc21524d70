"""The fast decode tier's figure for ``throughput.py`` (``make bench-gpu``): the same model's
images/s with its full VAE and with a tiny autoencoder (``AutoencoderTiny``: the model entry's
``draft_decoder``, else a random-weight one of TAESD's architecture, or the tiny test one on
the tiny model), in one run, same batch, same steps."""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch


def _decoder(loaded: Any, smoke: bool) -> Any:
    from diffusers import AutoencoderTiny
    from sorami_generator.draft import build_tiny_autoencoder, decoder_for

    if loaded.spec.draft_decoder:
        return decoder_for(loaded)
    decoder = build_tiny_autoencoder() if smoke else AutoencoderTiny()
    return decoder.to(device=loaded.placement.device, dtype=loaded.placement.dtype).eval()


def _call(loaded: Any, env: Any, batch: int, decoder: Any | None) -> None:
    p = env.data.params
    with torch.inference_mode():
        out = loaded.pipe(
            p.prompt, width=p.width, height=p.height, num_inference_steps=p.num_inference_steps,
            guidance_scale=p.guidance_scale, num_images_per_prompt=batch,
            output_type="latent" if decoder is not None else "np",
            generator=torch.Generator(loaded.placement.device).manual_seed(0),
        )  # fmt: skip
        if decoder is not None:
            pixels = decoder.decode(out.images.to(decoder.dtype)).sample
            (pixels / 2 + 0.5).clamp(0, 1).cpu()
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def report(loaded: Any, env: Any, batch: int, repeats: int, smoke: bool) -> None:
    if loaded.spec.family == "flux":
        print("[image] decode tier: n/a for FLUX (packed latents; draft needs 4-D latents)")
        return
    decoder = _decoder(loaded, smoke)
    rates = {}
    for name, dec in (("full VAE", None), ("tiny autoencoder", decoder)):
        _call(loaded, env, batch, dec)  # warm-up
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            _call(loaded, env, batch, dec)
            times.append(time.perf_counter() - t0)
        rates[name] = batch / statistics.median(times)
    full, tiny = rates["full VAE"], rates["tiny autoencoder"]
    print(f"[image] decode tier, batch {batch}: full VAE {full:.2f} images/s, tiny autoencoder"
          f" {tiny:.2f} images/s = {tiny / full:.2f}x")  # fmt: skip
