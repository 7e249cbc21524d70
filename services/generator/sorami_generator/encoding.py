"""Image files in the job's format (png | jpeg | webp), with the generation's parameters
embedded unless turned off: PNG ``iTXt`` chunks, XMP for JPEG and WebP (UTF-8, so any prompt
survives). Images are encoded in parallel on a shared pool of threads (Pillow's encoders
release the GIL), never on the launch thread or the event loop."""

from __future__ import annotations

import io
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import quoteattr

import numpy as np
from sorami_shared.events import GenerationRequested
from sorami_shared.model_registry import ModelSpec
from sorami_shared.output_options import (
    EXTENSIONS,
    MIME_TYPES,
    OutputSettings,
    resolve_compression,
    resolve_format,
)

XMP_NAMESPACE = "https://sorami.dev/ns/generation/1.0/"
METADATA_KEYS = (
    "prompt",
    "negative_prompt",
    "seed",
    "model",
    "steps",
    "guidance_scale",
    "job_id",
)


@dataclass(frozen=True)
class ImageEncoding:
    format: str = "png"
    compression: int | None = None  # jpeg/webp quality, OpenAI's output_compression
    metadata: dict[str, str] | None = None

    @property
    def mime_type(self) -> str:
        return MIME_TYPES[self.format]

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.format]


PNG = ImageEncoding()


def metadata_of(job: GenerationRequested, seed: int) -> dict[str, str]:
    p = job.params
    values: dict[str, Any] = {
        "prompt": p.prompt,
        "negative_prompt": p.negative_prompt,
        "seed": seed,
        "model": p.model,
        "steps": p.num_inference_steps,
        "guidance_scale": p.guidance_scale,
        "job_id": job.job_id,
    }
    return {k: str(v) for k, v in values.items() if v is not None}


def encoding_for(
    job: GenerationRequested, spec: ModelSpec | None, settings: OutputSettings, seed: int
) -> ImageEncoding:
    """The job's format (request, model, deployment) and whether it carries its parameters
    (the operator's ``embed_metadata`` and the request's must both allow it)."""
    p = job.params
    fmt = resolve_format(p.output_format, spec, settings)
    embed = settings.embed_metadata and p.embed_metadata is not False
    return ImageEncoding(
        fmt,
        resolve_compression(fmt, p.output_compression, spec, settings),
        metadata_of(job, seed) if embed else None,
    )


def _xmp(metadata: dict[str, str]) -> bytes:
    attrs = "".join(f"\n   sorami:{k}={quoteattr(v)}" for k, v in metadata.items())
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="" xmlns:sorami="{XMP_NAMESPACE}"{attrs}/>'
        '</rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    ).encode()


def encode_image(image: np.ndarray, encoding: ImageEncoding | None = None) -> bytes:
    """One (H, W, 3) uint8 image as a file; deterministic for the same pixels and options."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    encoding = encoding or PNG
    buf = io.BytesIO()
    img = Image.fromarray(image, "RGB")
    meta = encoding.metadata
    if encoding.format == "png":
        info = None
        if meta:
            info = PngInfo()
            for k, v in meta.items():
                info.add_itxt(k, v)
        img.save(buf, format="PNG", pnginfo=info)  # compress_level 6, PIL's default
    else:
        quality = 100 if encoding.compression is None else encoding.compression
        extra: dict[str, Any] = {"xmp": _xmp(meta)} if meta else {}
        if encoding.format == "jpeg":
            img.save(buf, format="JPEG", quality=quality, optimize=False, **extra)
        else:
            img.save(buf, format="WEBP", quality=quality, method=4, **extra)
    return buf.getvalue()


def read_metadata(data: bytes) -> dict[str, str]:
    """What a file carries (PNG text chunks, or the XMP packet's sorami attributes)."""
    import xml.etree.ElementTree as ET

    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        img.load()
        if img.format == "PNG":
            return {k: v for k, v in img.text.items() if k in METADATA_KEYS}
        xmp = img.info.get("xmp")
    if not xmp:
        return {}
    root = ET.fromstring(xmp.decode() if isinstance(xmp, bytes) else xmp)
    found: dict[str, str] = {}
    for el in root.iter():
        for k, v in el.attrib.items():
            if k.startswith("{" + XMP_NAMESPACE + "}"):
                found[k.split("}", 1)[1]] = v
    return found


_pool: ThreadPoolExecutor | None = None


def pool(threads: int | None = None) -> ThreadPoolExecutor:
    """One pool per process: ``threads`` (``SORAMI_GENERATOR_ENCODE_THREADS``) or a thread
    per core, set by its first use."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max(1, threads or os.cpu_count() or 2), "encode")
    return _pool


def encode_images(images: Any, encoding: ImageEncoding, threads: int | None = None) -> list[bytes]:
    """Blocking: every image, in parallel on the pool (several jobs' images share it)."""
    if len(images) == 1:
        return [encode_image(images[0], encoding)]
    return list(pool(threads).map(lambda img: encode_image(img, encoding), images))
