"""Per-model memory options from the registry (issue 22 item 5), applied once at load:

- ``offload: model``: ``enable_model_cpu_offload`` — each component moves to the GPU for its
  own forward and back (a large model on a small GPU, at some speed);
- ``offload: sequential``: ``enable_sequential_cpu_offload`` — layer by layer (the least GPU
  memory, the slowest);
- ``vae_tiling``: the VAE encodes and decodes in tiles (large images and videos);
- ``vae_slicing``: the VAE decodes one image of a batch at a time.

Offload moves weights between the CPU and an accelerator: on a CPU placement there is nothing
to offload to, so it is skipped (logged) and the pipeline is placed as usual.
"""

from __future__ import annotations

from typing import Any

from sorami_shared.logging import get_logger
from sorami_shared.model_registry import ModelSpec

from .devices import Placement

log = get_logger(__name__)

OFFLOAD_METHODS = {
    "model": "enable_model_cpu_offload",
    "sequential": "enable_sequential_cpu_offload",
}


def offload_method(spec: ModelSpec, placement: Placement) -> str | None:
    """The diffusers method that places ``spec``'s pipeline, or None for a plain ``.to``."""
    if spec.offload == "none":
        return None
    if not placement.is_cuda:
        log.warning("offload ignored on the CPU", offload=spec.offload)
        return None
    return OFFLOAD_METHODS[spec.offload]


def place(pipe: Any, spec: ModelSpec, placement: Placement) -> Any:
    """Apply ``spec``'s memory options and put the pipeline where it runs; the pipeline."""
    vae = getattr(pipe, "vae", None)
    for option, method in (("vae_tiling", "enable_tiling"), ("vae_slicing", "enable_slicing")):
        if getattr(spec, option):
            if vae is None or not hasattr(vae, method):
                raise ValueError(f"{option}: {type(pipe).__name__} has no VAE that supports it")
            getattr(vae, method)()
    method = offload_method(spec, placement)
    if method is None:
        return pipe.to(placement.device)
    getattr(pipe, method)(device=placement.device)
    return pipe
