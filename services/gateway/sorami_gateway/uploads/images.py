"""Checking a user's image before anything stores or decodes it in full (pure, Pillow).

The format comes from the bytes (Pillow's own identification, restricted to PNG, JPEG and
WebP), never from a file name or a declared Content-Type. The header's size is checked against
the pixel cap BEFORE the pixels are decoded (a 50000x50000 PNG header, or a 10000x10000 solid
image that compresses to a few kilobytes, is refused without allocating its pixels); then the
whole image is decoded, so a truncated file is refused here rather than in the generator.
EXIF orientation is applied (the stored image is upright, as browsers show it); alpha is kept.
"""

from __future__ import annotations

import hashlib
import io
import threading
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

FORMATS = {"PNG": "png", "JPEG": "jpeg", "WEBP": "webp"}
MIME_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
_ORIENTATION = 0x0112
# Decoded pixels cost up to 4 bytes x MAX_PIXELS each (64 MiB at 4096x4096): at most this many
# images are decoded at once per process, whatever the number of uploads in flight.
_DECODING = threading.BoundedSemaphore(2)


class ImageRefused(ValueError):
    """Not an image Sorami takes; ``reason`` says why (shown to the client)."""

    def __init__(self, reason: str, *, status: int = 422) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class CheckedImage:
    format: str  # png | jpeg | webp
    width: int
    height: int
    data: bytes  # what to store: the file as sent, or re-encoded upright
    sha256: str

    @property
    def mime_type(self) -> str:
        return MIME_TYPES[self.format]


def check_image(data: bytes, *, max_pixels: int) -> CheckedImage:
    """The image ``data`` holds, upright, or :class:`ImageRefused`."""
    with _DECODING:
        return _check(data, max_pixels)


def _check(data: bytes, max_pixels: int) -> CheckedImage:
    if not data:
        raise ImageRefused("the file is empty")
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb check warns or raises at ITS limit; ours is checked below
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=list(FORMATS))
    except UnidentifiedImageError:
        raise ImageRefused(
            "not a PNG, JPEG or WebP image (SVG, GIF, TIFF and other formats are not accepted)",
            status=415,
        ) from None
    except Image.DecompressionBombError:
        raise ImageRefused(f"the image has more than {max_pixels} pixels") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageRefused(f"the image could not be read: {_short(exc)}") from None
    with image:
        fmt = FORMATS[str(image.format)]
        width, height = image.size
        if width < 1 or height < 1 or width * height > max_pixels:
            raise ImageRefused(
                f"the image is {width}x{height}: more than the {max_pixels} pixels allowed"
            )
        if getattr(image, "n_frames", 1) > 1:
            raise ImageRefused("animated images are not accepted")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image.load()
        except Image.DecompressionBombError:
            raise ImageRefused(f"the image has more than {max_pixels} pixels") from None
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            raise ImageRefused(f"the image is truncated or corrupt: {_short(exc)}") from None
        orientation = image.getexif().get(_ORIENTATION, 1)
        if orientation in (None, 1):
            stored = data
        else:
            upright = ImageOps.exif_transpose(image)
            width, height = upright.size
            stored = _encode(upright, fmt)
    return CheckedImage(fmt, width, height, stored, hashlib.sha256(stored).hexdigest())


def _encode(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    if fmt == "jpeg":
        image.convert("RGB").save(out, "JPEG", quality=95)
    elif fmt == "webp":
        image.save(out, "WEBP", lossless=True)
    else:
        image.save(out, "PNG")
    return out.getvalue()


def _short(exc: BaseException) -> str:
    return (str(exc) or type(exc).__name__)[:200]


def mask_from_alpha(data: bytes, *, max_pixels: int) -> CheckedImage:
    """OpenAI's mask convention (fully transparent pixels are edited) as Sorami's (white
    repaints, black keeps): a greyscale PNG of the same size."""
    checked = check_image(data, max_pixels=max_pixels)
    with Image.open(io.BytesIO(checked.data)) as image:
        has_alpha = "A" in image.getbands() or "transparency" in image.info
        if not has_alpha:
            raise ImageRefused("the mask needs an alpha channel: its transparent areas are edited")
        alpha = image.convert("RGBA").getchannel("A")
    paint = alpha.point(lambda a: 255 if a == 0 else 0)
    return check_image(_encode(paint, "png"), max_pixels=max_pixels)
