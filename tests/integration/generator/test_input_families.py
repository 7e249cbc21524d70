"""Input images on more than one family, through the generator's own path (plan_with_inputs,
the batching key, run_batch) on tiny random-weight builds and local storage: img2img and
inpainting on Stable Diffusion and SDXL, image-to-video on LTX-Video. The variant pipelines
share the loaded modules (from_pipe: no second copy of the weights), and the input changes
the pixels (so it is really used)."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import numpy as np
import pytest
from sorami_generator.batching import call_key
from sorami_generator.inputs import plan_with_inputs
from sorami_generator.runner import Aborter, BatchItem, run_batch
from sorami_shared.events import GenerationParams, GenerationRequested, InputFile, Kind
from sorami_shared.storage import make_storage
from sorami_shared.storage.settings import StorageSettings

from tests.support import images

from .test_families import pipelines  # noqa: F401 - the module's loaded tiny pipelines

pytestmark = pytest.mark.timeout(300)


async def _input(storage: Any, role: str, data: bytes) -> InputFile:
    key = f"upload/{uuid.uuid4()}/source.png"
    await storage.put(key, data, "image/png")
    w, h = images.size_of(data)
    sha = hashlib.sha256(data).hexdigest()
    return InputFile(role=role, key=key, sha256=sha, width=w, height=h, mime_type="image/png")


def _request(loaded: Any, inputs: list[InputFile], **params: Any) -> GenerationRequested:
    spec = loaded.spec
    values = {"prompt": "a harbour", "model": loaded.name, "seed": 5, **spec.request_defaults()}
    values.update(width=32, height=32, num_inference_steps=2, inputs=inputs, **params)
    if spec.kind == Kind.IMAGE:
        values.pop("num_frames", None), values.pop("fps", None)
    return GenerationRequested(
        job_id=uuid.uuid4(), user_id="u", kind=spec.kind, params=GenerationParams(**values)
    )


async def _run(storage: Any, loaded: Any, request: GenerationRequested) -> Any:
    seen, call = await plan_with_inputs(storage, loaded, request, loaded.spec)
    for name in ("unet", "transformer", "vae", "text_encoder"):
        if getattr(loaded.pipe, name, None) is not None:
            assert getattr(seen.pipe, name) is getattr(loaded.pipe, name), name  # shared
    (pixels,) = run_batch(seen, [BatchItem(call, lambda *_: None, Aborter())])
    return call, pixels


@pytest.mark.parametrize("name", ["tiny-image", "tiny-sdxl"])
async def test_img2img_and_inpainting(pipelines, tmp_path, name):  # noqa: F811
    loaded = pipelines(name)
    storage = make_storage(StorageSettings(storage_local_dir=tmp_path))
    red = await _input(storage, "image", images.png(48, 40, mode="RGB", color=(250, 10, 10)))
    blue = await _input(storage, "image", images.png(48, 40, mode="RGB", color=(10, 10, 250)))
    mask = await _input(storage, "mask", images.png(48, 40, mode="L", color=255))
    a_call, a = await _run(storage, loaded, _request(loaded, [red], strength=0.5))
    _, b = await _run(storage, loaded, _request(loaded, [blue], strength=0.5))
    assert a.shape == (1, 32, 32, 3) and b.shape == a.shape
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 0.1  # the input image is used
    i_call, inpainted = await _run(storage, loaded, _request(loaded, [red, mask], strength=0.9))
    assert inpainted.shape == (1, 32, 32, 3)
    assert call_key(a_call) != call_key(i_call)  # never in one call together


async def test_image_to_video_on_ltx(pipelines, tmp_path):  # noqa: F811
    loaded = pipelines("tiny-ltx")
    storage = make_storage(StorageSettings(storage_local_dir=tmp_path))
    first = await _input(storage, "image", images.png(40, 40, mode="RGB", color=(0, 200, 0)))
    other = await _input(storage, "image", images.png(40, 40, mode="RGB", color=(200, 0, 200)))
    call, green = await _run(storage, loaded, _request(loaded, [first]))
    _, purple = await _run(storage, loaded, _request(loaded, [other]))
    assert green.shape == (1, call.num_frames, 32, 32, 3)
    assert np.abs(green.astype(int) - purple.astype(int)).mean() > 0.1
