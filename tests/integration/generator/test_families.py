"""Every model family, through the generator's own call path (plan_call, the batching key,
run_batch) on tiny random-weight builds: a job's pixels never depend on its batch-mates, the
guidance and the negative prompt change the pixels where the family honours them, and the
pixels come back at the size and frame count asked.

Jobs are grouped by ``call_key`` and each group is one pipeline call, as the batcher does.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sorami_generator.batching import call_key
from sorami_generator.devices import Placement
from sorami_generator.pipelines import load_pipeline
from sorami_generator.requests import PlannedCall, call_parameters, plan_call
from sorami_generator.runner import Aborter, BatchItem, run_batch
from sorami_shared.events import GenerationParams, GenerationRequested, Kind
from sorami_shared.model_registry import BUILTIN_MODELS, ModelSpec

from tests.support import tiny_families

NAMES = ["tiny-image", "tiny-video", *(f"tiny-{n}" for n in tiny_families.BUILDERS)]
TOLERANCE = 2  # /255: batched matmuls may round differently


@pytest.fixture(scope="module")
def pipelines(tmp_path_factory: pytest.TempPathFactory) -> Any:
    import torch

    specs = {**BUILTIN_MODELS}
    specs.update({n: ModelSpec.model_validate(e) for n, e in tiny_families.model_entries().items()})
    cache: Path = tmp_path_factory.mktemp("models")
    loaded: dict[str, Any] = {}

    def get(name: str) -> Any:
        if name not in loaded:
            loaded[name] = load_pipeline(name, specs[name], Placement("cpu", torch.float32), cache)
        return loaded[name]

    return get


def planned(loaded: Any, prompt: str, seed: int, **params: Any) -> PlannedCall:
    spec = loaded.spec
    values = {"prompt": prompt, "model": loaded.name, "seed": seed, **spec.request_defaults()}
    values.update(width=32, height=32, num_inference_steps=2)  # the built-ins default to 64 px
    if spec.family == "animatediff":
        values["num_frames"] = 2  # the built-in's 8 frames cost most of this module
    values.update(params)
    if spec.kind == Kind.IMAGE:
        values.pop("num_frames", None), values.pop("fps", None)
    request = GenerationRequested(
        job_id=uuid.uuid4(), user_id="u", kind=spec.kind, params=GenerationParams(**values)
    )
    return plan_call(request, spec, call_parameters(loaded.pipe))


def grouped(loaded: Any, calls: list[PlannedCall]) -> tuple[list[np.ndarray], int]:
    """Each job's pixels, running one pipeline call per batching key; and the call count."""
    groups: dict[Any, list[int]] = {}
    for i, call in enumerate(calls):
        groups.setdefault(call_key(call), []).append(i)
    out: list[Any] = [None] * len(calls)
    for members in groups.values():
        items = [BatchItem(calls[i], lambda *_: None, Aborter()) for i in members]
        for i, pixels in zip(members, run_batch(loaded, items), strict=True):
            out[i] = pixels.astype(np.int16)
    return out, len(groups)


def diff(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a - b).max())


@pytest.mark.parametrize("name", NAMES)
def test_a_jobs_pixels_do_not_depend_on_its_batch_mates(pipelines: Any, name: str) -> None:
    loaded = pipelines(name)
    spec: ModelSpec = loaded.spec
    job = planned(loaded, "a red fox in the snow", 11)
    mates = [planned(loaded, p, s) for p, s in (("a ship", 2), ("night city, rain", 3))]
    (alone,), _ = grouped(loaded, [job])
    burst, calls = grouped(loaded, [mates[0], job, mates[1]])
    assert calls == 1
    assert diff(burst[1], alone) <= TOLERANCE, "the same job in a burst"
    assert diff(burst[0], burst[2]) > TOLERANCE, "different prompts and seeds, different pixels"
    assert spec.guidance != "none"  # every tiny build has guidance (FLUX.1-dev-like)
    (unguided,), _ = grouped(
        loaded, [planned(loaded, "a red fox in the snow", 11, guidance_scale=1)]
    )
    assert diff(unguided, alone) > 0, "guidance changes the pixels"  # one call is deterministic
    if spec.negative_prompt == "none":
        return
    neg = planned(loaded, "a red fox in the snow", 11, negative_prompt="blurry, dark")
    (neg_alone,), _ = grouped(loaded, [neg])
    # one call is deterministic on a CPU: any change is the negative's
    assert diff(neg_alone, alone) > 0, "the negative prompt changes the pixels"
    others = [planned(loaded, "a ship", 4, negative_prompt="low quality"), mates[1]]
    mixed, calls = grouped(loaded, [others[0], job, neg, others[1]])
    # with and without a negative: two calls; Qwen-Image: every job under true CFG has one
    assert calls == (1 if spec.guidance == "true_cfg" else 2)
    assert diff(mixed[1], alone) <= TOLERANCE, "beside jobs with and without negatives"
    assert diff(mixed[2], neg_alone) <= TOLERANCE, "with its negative, beside others"


@pytest.mark.parametrize("name", NAMES)
def test_pixels_come_back_at_the_size_and_frame_count_asked(pipelines: Any, name: str) -> None:
    loaded = pipelines(name)
    spec: ModelSpec = loaded.spec
    m = spec.size_multiple
    width, height = 2 * max(m, 32), max(m, 32)  # not square: no silent resize or bin
    seen: list[tuple[int, ...]] = []
    denoiser = getattr(loaded.pipe, "transformer", None) or loaded.pipe.unet
    hook = denoiser.register_forward_pre_hook(
        lambda _m, args, kwargs: seen.append(tuple((args or [kwargs["hidden_states"]])[0].shape)),
        with_kwargs=True,
    )
    try:
        call = planned(loaded, "a red fox", 1, width=width, height=height)
        (pixels,), _ = grouped(loaded, [call])
    finally:
        hook.remove()
    frames = (call.num_frames,) if spec.kind == Kind.VIDEO else ()
    assert pixels.shape == (1, *frames, height, width, 3)
    if spec.family == "sana":  # the latents are at the size asked, not at a resolution bin
        f = loaded.pipe.vae_scale_factor
        assert seen and seen[0][-2:] == (height // f, width // f)
