import pytest
import torch
from sorami_generator.devices import is_out_of_memory, make_generator, resolve_placement


def test_auto_is_cuda_bf16_with_a_gpu_fp16_without_bf16_else_cpu_fp32():
    assert resolve_placement(cuda_available=True, bf16_supported=True).dtype == torch.bfloat16
    assert resolve_placement(cuda_available=True, bf16_supported=True).device == "cuda"
    assert resolve_placement(cuda_available=True, bf16_supported=False).dtype == torch.float16
    cpu = resolve_placement(cuda_available=False)
    assert (cpu.device, cpu.dtype, cpu.is_cuda) == ("cpu", torch.float32, False)


def test_explicit_settings_win_and_cuda_without_gpu_is_an_error():
    assert resolve_placement("cpu", "bfloat16", cuda_available=True).dtype == torch.bfloat16
    assert resolve_placement("cpu", cuda_available=True).device == "cpu"
    with pytest.raises(RuntimeError):
        resolve_placement("cuda", cuda_available=False)


def test_seeded_generator_is_reproducible():
    a = torch.randn(4, generator=make_generator("cpu", 5))
    b = torch.randn(4, generator=make_generator("cpu", 5))
    assert torch.equal(a, b)


def test_out_of_memory_is_recognised():
    assert is_out_of_memory(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate"))
    assert is_out_of_memory(RuntimeError("CUDA error: out of memory"))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    assert not is_out_of_memory(ValueError("out of memory"))
