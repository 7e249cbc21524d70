"""Image files in each format: the size asked, compression's direction, the generation's
parameters embedded (and not, when turned off), the format chosen request > model > deployment."""

import io
import uuid

import numpy as np
import pytest
from PIL import Image
from sorami_generator.encoding import ImageEncoding, encode_image, encoding_for, read_metadata
from sorami_generator.outputs import encode_outputs
from sorami_shared.events import GenerationParams, GenerationRequested, Kind
from sorami_shared.model_registry import BUILTIN_MODELS
from sorami_shared.output_options import OutputSettings


def picture(h: int, w: int) -> np.ndarray:
    """Smooth gradients plus a little noise: compresses like a picture, not like static."""
    y, x = np.mgrid[0:h, 0:w]
    rng = np.random.default_rng(1)
    base = np.stack([x * 255 / w, y * 255 / h, (x + y) * 127 / (w + h)], axis=-1)
    return np.clip(base + rng.normal(0, 6, (h, w, 3)), 0, 255).astype(np.uint8)


def job(**params) -> GenerationRequested:
    values = dict(prompt="a fox — 狐", model="tiny-image", width=64, height=48)
    values.update(num_inference_steps=3, guidance_scale=7.5, negative_prompt="blur")
    return GenerationRequested(
        job_id=uuid.uuid4(),
        user_id="u",
        kind=Kind.IMAGE,
        params=GenerationParams(**{**values, **params}),
    )


@pytest.mark.parametrize("fmt,pil", [("png", "PNG"), ("jpeg", "JPEG"), ("webp", "WEBP")])
def test_each_format_decodes_at_the_size_asked(fmt, pil):
    data = encode_image(picture(48, 80), ImageEncoding(fmt, 90))
    with Image.open(io.BytesIO(data)) as img:
        assert (img.format, img.size, img.mode) == (pil, (80, 48), "RGB")


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
def test_lower_compression_value_gives_smaller_files(fmt):
    img = picture(128, 128)
    sizes = [len(encode_image(img, ImageEncoding(fmt, q))) for q in (10, 50, 100)]
    assert sizes[0] < sizes[1] < sizes[2], sizes


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_parameters_embedded_and_absent_when_turned_off(fmt):
    request = job(output_format=fmt, seed=5)
    on = encoding_for(request, BUILTIN_MODELS["tiny-image"], OutputSettings(), seed=5)
    meta = read_metadata(encode_image(picture(16, 16), on))
    assert meta == {
        "prompt": "a fox — 狐",
        "negative_prompt": "blur",
        "seed": "5",
        "model": "tiny-image",
        "steps": "3",
        "guidance_scale": "7.5",
        "job_id": str(request.job_id),
    }
    by_request = encoding_for(
        job(output_format=fmt, embed_metadata=False), None, OutputSettings(), 5
    )
    by_operator = encoding_for(request, None, OutputSettings(embed_metadata=False), 5)
    for off in (by_request, by_operator):
        assert off.metadata is None
        data = encode_image(picture(16, 16), off)
        assert read_metadata(data) == {} and b"sorami" not in data and b"fox" not in data


def test_format_and_compression_request_then_model_then_deployment():
    spec = BUILTIN_MODELS["tiny-image"].model_copy(
        update={"output_format": "webp", "output_compression": 70}
    )
    deployment = OutputSettings(output_format="jpeg", output_compression=40)
    pick = lambda r, s: (lambda e: (e.format, e.compression))(encoding_for(r, s, deployment, 1))  # noqa: E731
    assert pick(job(), spec) == ("webp", 70)
    assert pick(job(), None) == ("jpeg", 40)
    assert pick(job(output_format="png"), spec) == ("png", None)
    assert pick(job(output_format="jpeg", output_compression=20), spec) == ("jpeg", 20)


def test_outputs_carry_the_format_in_key_mime_and_bytes():
    job_id = uuid.uuid4()
    pixels = np.stack([picture(32, 48)] * 3)
    out = encode_outputs(Kind.IMAGE, job_id, pixels, None, ImageEncoding("jpeg", 80), threads=2)
    assert [f.key for f in out.files] == [f"image/{job_id}/{i}.jpg" for i in range(3)]
    for f, blob in zip(out.files, out.blobs, strict=True):
        assert f.mime_type == blob.content_type == "image/jpeg"
        assert f.bytes == len(blob.data) and blob.data[:3] == b"\xff\xd8\xff"
