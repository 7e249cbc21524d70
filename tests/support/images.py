"""Image files for the upload tests, made in code (Pillow): valid ones, and the hostile ones a
user may send (a header claiming 50000x50000, a huge solid image that compresses small,
truncated files, formats Sorami does not take)."""

from __future__ import annotations

import functools
import io
import struct
import zlib

from PIL import Image


def encode(image: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def png(width: int = 64, height: int = 48, mode: str = "RGBA", color: object = None) -> bytes:
    return encode(Image.new(mode, (width, height), color or (200, 30, 30, 128)[: len(mode)]))


def png_header_claiming(width: int, height: int) -> bytes:
    """A well-formed PNG header (IHDR, a tiny IDAT, IEND) claiming ``width`` x ``height``."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 16))
        + chunk(b"IEND", b"")
    )


@functools.cache
def solid_png(side: int) -> bytes:
    """A ``side`` x ``side`` single-colour greyscale PNG (10000: ~100 kB for 100 Mpixels)."""
    return encode(Image.new("L", (side, side), 7), "PNG", optimize=False)


def rotated_jpeg(width: int = 64, height: int = 32) -> bytes:
    """A ``width`` x ``height`` JPEG whose EXIF says: rotate 90° to show (orientation 6)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(Image.new("RGB", (width, height), (10, 200, 10)), "JPEG", exif=exif)


def other_format(fmt: str) -> bytes:
    if fmt == "SVG":
        return b'<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>'
    return encode(Image.new("RGB", (8, 8), (1, 2, 3)), fmt)


def size_of(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size
