"""Encoding outputs and describing them: a PNG, JPEG or WebP per image (:mod:`.encoding`);
H.264 MP4 (yuv420p) plus a PNG poster per video. Keys ``{kind}/{job_id}/{index}.{ext}``, so a
redelivered job overwrites."""

from __future__ import annotations

import os
import tempfile
import uuid
from dataclasses import dataclass

import numpy as np
from sorami_shared.events import FileInfo, Kind

from .encoding import PNG, ImageEncoding, encode_image, encode_images

PNG_MIME = "image/png"
MP4_MIME = "video/mp4"


@dataclass(frozen=True)
class Blob:
    key: str
    data: bytes
    content_type: str
    is_poster: bool = False


@dataclass(frozen=True)
class EncodedOutputs:
    files: list[FileInfo]
    blobs: list[Blob]  # posters first, then the files the events list


def output_key(kind: Kind, job_id: uuid.UUID, index: int, ext: str) -> str:
    return f"{kind.value}/{job_id}/{index}.{ext}"


def encode_png(image: np.ndarray) -> bytes:
    return encode_image(image)


def _even(frames: np.ndarray) -> np.ndarray:
    """yuv420p needs even width and height: pad odd edges by repeating the last row/column."""
    _, h, w, _ = frames.shape
    pad_h, pad_w = h % 2, w % 2
    if pad_h or pad_w:
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    return frames


def encode_mp4(frames: np.ndarray, fps: int) -> bytes:
    """H.264 in yuv420p (what every browser plays), moov atom first for streaming."""
    import imageio_ffmpeg

    frames = _even(frames)
    _, h, w, _ = frames.shape
    fd, path = tempfile.mkstemp(suffix=".mp4")
    os.close(fd)
    try:
        writer = imageio_ffmpeg.write_frames(
            path,
            (w, h),
            fps=fps,
            codec="libx264",
            pix_fmt_in="rgb24",
            pix_fmt_out="yuv420p",
            macro_block_size=1,
            quality=None,
            output_params=["-crf", "18", "-preset", "veryfast", "-movflags", "+faststart"],
            ffmpeg_log_level="error",
        )
        writer.send(None)
        for frame in frames:
            writer.send(np.ascontiguousarray(frame))
        writer.close()
        with open(path, "rb") as f:
            return f.read()
    finally:
        os.unlink(path)


def encode_outputs(
    kind: Kind,
    job_id: uuid.UUID,
    pixels: np.ndarray,
    fps: int | None,
    encoding: ImageEncoding = PNG,
    threads: int | None = None,
) -> EncodedOutputs:
    """Blocking (run it in a thread). ``pixels``: (n, H, W, 3) or (n, F, H, W, 3) uint8;
    ``encoding``: the images' format (videos are MP4 with PNG posters)."""
    files: list[FileInfo] = []
    blobs: list[Blob] = []
    if kind == Kind.IMAGE:
        mime = encoding.mime_type
        for index, (image, data) in enumerate(
            zip(pixels, encode_images(pixels, encoding, threads), strict=True)
        ):
            key = output_key(kind, job_id, index, encoding.extension)
            blobs.append(Blob(key, data, mime))
            h, w = image.shape[:2]
            files.append(
                FileInfo(index=index, key=key, mime_type=mime, bytes=len(data), width=w, height=h)
            )
        return EncodedOutputs(files, blobs)

    fps = fps or 8
    posters: list[Blob] = []
    videos: list[Blob] = []
    for index, frames in enumerate(pixels):
        data = encode_mp4(frames, fps)
        key = output_key(kind, job_id, index, "mp4")
        poster_key = output_key(kind, job_id, index, "png")
        posters.append(Blob(poster_key, encode_png(frames[0]), PNG_MIME, is_poster=True))
        videos.append(Blob(key, data, MP4_MIME))
        count, h, w = frames.shape[:3]
        files.append(
            FileInfo(
                index=index,
                key=key,
                mime_type=MP4_MIME,
                bytes=len(data),
                width=w + w % 2,
                height=h + h % 2,
                fps=float(fps),
                frame_count=count,
                duration_s=round(count / fps, 3),
                poster_key=poster_key,
            )
        )
    return EncodedOutputs(files, posters + videos)
