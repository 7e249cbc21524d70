"""The fit rule (scale to cover, centre-crop) and which inputs a model takes (pure)."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from sorami_gateway.uploads.images import ImageRefused, mask_from_alpha
from sorami_shared.model_inputs import cover_crop
from sorami_shared.model_registry import BUILTIN_MODELS

from tests.support import images


@pytest.mark.parametrize(
    ("source", "target", "scaled", "box"),
    [
        ((64, 64), (64, 64), (64, 64), (0, 0, 64, 64)),
        ((100, 50), (64, 64), (128, 64), (32, 0, 96, 64)),  # wide: sides cropped
        ((30, 90), (64, 32), (64, 192), (0, 80, 64, 112)),  # tall: top and bottom cropped
        ((640, 480), (64, 48), (64, 48), (0, 0, 64, 48)),  # same aspect: scaled only
    ],
)
def test_cover_crop(source, target, scaled, box):
    assert cover_crop(source, target) == (scaled, box)
    left, top, right, bottom = box
    assert (right - left, bottom - top) == target
    assert scaled[0] >= target[0] and scaled[1] >= target[1]


def test_the_registry_says_which_inputs_a_model_takes():
    image, video = BUILTIN_MODELS["tiny-image"], BUILTIN_MODELS["tiny-video"]
    assert image.refusal("image", "some-id", {}) is None
    assert image.refusal("strength", 0.5, {"image": "some-id"}) is None
    assert "needs an image" in image.refusal("mask", "some-id", {})
    assert "takes no input image" in video.refusal("image", "some-id", {})
    assert image.rules()["inputs"] == ["image", "mask"] and video.rules()["inputs"] == []


def test_an_openai_mask_becomes_white_where_transparent():
    mask = Image.new("RGBA", (8, 4), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, 4, 4))
    converted = mask_from_alpha(images.encode(mask), max_pixels=10**6)
    with Image.open(io.BytesIO(converted.data)) as out:
        assert out.mode == "L" and out.size == (8, 4)
        assert out.getpixel((0, 0)) == 255 and out.getpixel((7, 0)) == 0
    with pytest.raises(ImageRefused, match="alpha"):
        mask_from_alpha(images.png(8, 4, mode="RGB"), max_pixels=10**6)
