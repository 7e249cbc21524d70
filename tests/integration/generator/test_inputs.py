"""Jobs with input images through the real worker (tiny-image, random weights, real RabbitMQ,
local storage): img2img and inpainting reuse the loaded weights (from_pipe), two img2img jobs
of one size and strength share one call, and an input deleted or changed since the request
fails the job (input_unavailable) instead of crashing anything."""

from __future__ import annotations

import hashlib
import io

import numpy as np
from PIL import Image
from sorami_generator.inputs import _VARIANTS
from sorami_shared.events import FailureCode, InputFile, Kind
from sorami_shared.storage import make_storage

from tests.support import images

from .conftest import request, running_worker


async def stored(storage, key: str, data: bytes, role: str = "image") -> InputFile:
    await storage.put(key, data, "image/png")
    w, h = images.size_of(data)
    return InputFile(
        role=role,
        key=key,
        sha256=hashlib.sha256(data).hexdigest(),
        width=w,
        height=h,
        mime_type="image/png",
    )


def pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


async def test_img2img_inpainting_and_a_vanished_input(settings_for, tap, client_bus):
    settings = settings_for()
    storage = make_storage(settings)
    source = await stored(storage, "upload/a/source.png", images.png(96, 64, mode="RGB"))
    mask = await stored(
        storage, "upload/m/source.png", images.png(96, 64, mode="L", color=255), "mask"
    )
    common = {"width": 64, "height": 64, "num_inference_steps": 2, "strength": 0.5}
    jobs = {
        "img2img_a": request(Kind.IMAGE, inputs=[source], seed=1, **common),
        "img2img_b": request(Kind.IMAGE, inputs=[source], seed=2, **common),
        "inpaint": request(Kind.IMAGE, inputs=[source, mask], seed=3, **common),
        "gone": request(
            Kind.IMAGE, inputs=[source.model_copy(update={"key": "upload/x/none.png"})], **common
        ),
        "changed": request(
            Kind.IMAGE, inputs=[source.model_copy(update={"sha256": "0" * 64})], **common
        ),
    }
    async with running_worker(
        settings,
    ) as _:
        for env in jobs.values():
            await client_bus.publish(env)
        outcomes = {
            name: await tap.wait_terminal(env.data.job_id, within=180) for name, env in jobs.items()
        }
    for name in ("img2img_a", "img2img_b", "inpaint"):
        assert outcomes[name].type == "generation.completed", (name, outcomes[name].data)
        (f,) = outcomes[name].data.files
        assert (f.width, f.height) == (64, 64)
    for name in ("gone", "changed"):
        assert outcomes[name].type == "generation.failed"
        assert outcomes[name].data.code == FailureCode.INPUT_UNAVAILABLE, outcomes[name].data
    a, b = [
        pixels(await storage.get(outcomes[n].data.files[0].key)) for n in ("img2img_a", "img2img_b")
    ]
    assert np.abs(a - b).mean() > 0  # one seeded generator each, batched or not
    modes = {mode for variants in _VARIANTS.values() for mode in variants}
    assert modes == {"img2img", "inpaint"}  # made once from the loaded pipeline
