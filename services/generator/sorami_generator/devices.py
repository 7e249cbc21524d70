"""Where and in which precision pipelines run.

auto: CUDA when a GPU is present, in bfloat16 (float16 on GPUs without bf16), else the CPU in
float32 (half precision on CPU is slow and lossy). Explicit settings win.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class Placement:
    device: str  # "cpu" | "cuda" | "cuda:N"
    dtype: torch.dtype

    @property
    def is_cuda(self) -> bool:
        return self.device.startswith("cuda")


_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_placement(
    device: str = "auto",
    dtype: str = "auto",
    *,
    cuda_available: bool | None = None,
    bf16_supported: bool | None = None,
) -> Placement:
    if cuda_available is None:
        cuda_available = torch.cuda.is_available()
    if device == "auto":
        device = "cuda" if cuda_available else "cpu"
    elif device.startswith("cuda") and not cuda_available:
        raise RuntimeError("device=cuda requested but no CUDA device is available")
    if dtype != "auto":
        return Placement(device, _DTYPES[dtype])
    if not device.startswith("cuda"):
        return Placement(device, torch.float32)
    if bf16_supported is None:
        bf16_supported = torch.cuda.is_bf16_supported()
    return Placement(device, torch.bfloat16 if bf16_supported else torch.float16)


def limit_cpu_threads(threads: int | None) -> None:
    """torch's intra-op threads (CPU work) to ``threads``; None leaves torch's default."""
    if threads is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def make_generator(device: str, seed: int) -> torch.Generator:
    """A seeded generator on the pipeline's device: same seed, same device → same output."""
    return torch.Generator(device=device).manual_seed(seed)


def is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError | MemoryError) and "out of memory" in str(exc).lower()


def release_memory(placement: Placement | None = None) -> None:
    import gc

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def describe() -> dict[str, Any]:
    info: dict[str, Any] = {"torch": torch.__version__, "cuda": torch.cuda.is_available()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info
