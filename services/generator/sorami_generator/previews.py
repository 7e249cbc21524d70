"""Live previews: every few steps a job's first image, decoded cheaply from its latents by
the family's linear latent→RGB projection (no weights, a few multiply-adds per pixel), made
small (≤ ``preview_size`` px) and sent as ``generation.preview`` to its owner.

At most ``max_previews`` per job (4), at 1/5, 2/5, 3/5, 4/5 of the steps (a preview held back
by the interval goes at a later step), ≥ ``preview_min_interval_s`` (0.25 s) apart, never at
the last step (the final image is next). The launch thread only projects (a tiny tensor op)
and hands the pixels over; encoding (the encode pool) and publishing happen on the loop's side,
best effort: a preview that cannot be sent is dropped, and none is sent after the job ended.
Factors: ComfyUI's ``latent_formats`` (approximations fitted to each family's VAE)."""

from __future__ import annotations

import asyncio
import base64
import io
import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
from sorami_shared.logging import get_logger

log = get_logger(__name__)

_SD = [
    [0.3512, 0.2297, 0.3227],
    [0.3250, 0.4974, 0.2350],
    [-0.2829, 0.1762, 0.2721],
    [-0.2120, -0.2616, -0.7177],
]
_SDXL = [
    [0.3651, 0.4232, 0.4341],
    [-0.2533, -0.0042, 0.1068],
    [0.1076, 0.1111, -0.0362],
    [-0.3165, -0.2492, -0.2188],
]
_FLUX = [
    [-0.0346, 0.0244, 0.0681],
    [0.0034, 0.0210, 0.0687],
    [0.0275, -0.0668, -0.0433],
    [-0.0174, 0.0160, 0.0617],
    [0.0859, 0.0721, 0.0329],
    [0.0004, 0.0383, 0.0115],
    [0.0405, 0.0861, 0.0915],
    [-0.0236, -0.0185, -0.0259],
    [-0.0245, 0.0250, 0.1180],
    [0.1008, 0.0755, -0.0421],
    [-0.0515, 0.0201, 0.0011],
    [0.0428, -0.0012, -0.0036],
    [0.0817, 0.0765, 0.0749],
    [-0.1264, -0.0522, -0.1103],
    [-0.0280, -0.0881, -0.0499],
    [-0.1262, -0.0982, -0.0778],
]
# family → (channels x RGB factors, RGB bias); "generic" 4-channel models use SD's.
LATENT_RGB: dict[str, tuple[list[list[float]], list[float]]] = {
    "sd": (_SD, [0.0, 0.0, 0.0]),
    "generic": (_SD, [0.0, 0.0, 0.0]),
    "sdxl": (_SDXL, [0.1084, -0.0175, -0.0011]),
    "flux": (_FLUX, [-0.0329, -0.0718, -0.0851]),
}


def can_preview(family: str) -> bool:
    return family in LATENT_RGB


class PreviewSchedule:
    """Which steps of one job make a preview (see the module doc)."""

    def __init__(
        self,
        total: int,
        most: int,
        min_interval_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total, self.most, self.min_interval_s, self.clock = total, most, min_interval_s, clock
        self.sent = 0
        self.last_at: float | None = None

    def due(self, step: int) -> bool:
        if self.sent >= self.most or step >= self.total:
            return False
        if step * (self.most + 1) < (self.sent + 1) * self.total:
            return False
        now = self.clock()
        if self.last_at is not None and now - self.last_at < self.min_interval_s:
            return False
        self.sent += 1
        self.last_at = now
        return True


def project(latents: Any, family: str, height: int, width: int) -> np.ndarray | None:
    """One image's latents (C, h, w), or FLUX's packed (seq, 64), → (h, w, 3) uint8, or None
    when the family has no factors or the shape does not fit them."""
    import torch

    found = LATENT_RGB.get(family)
    if found is None:
        return None
    factors, bias = found
    x = latents.detach().float()
    if x.ndim == 2 and family == "flux":  # packed 2x2 patches: unpack like FluxPipeline
        h, w = 2 * (height // 16), 2 * (width // 16)
        c = x.shape[-1] // 4
        if x.shape[0] * 4 != h * w:
            return None
        x = x.view(h // 2, w // 2, c, 2, 2).permute(2, 0, 3, 1, 4).reshape(c, h, w)
    if x.ndim != 3 or x.shape[0] != len(factors):
        return None
    m = torch.tensor(factors, device=x.device)
    rgb = torch.einsum("chw,cr->hwr", x, m) + torch.tensor(bias, device=x.device)
    rgb = ((rgb + 1) * 127.5).clamp(0, 255).to(torch.uint8)
    return rgb.cpu().numpy()


def encode_preview(rgb: np.ndarray, size: int, fmt: str, quality: int) -> tuple[bytes, int, int]:
    """Scaled up (bilinear) to the longer side ``size``: (bytes, width, height)."""
    from PIL import Image

    img = Image.fromarray(rgb, "RGB")
    scale = size / max(img.size)
    img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))))
    buf = io.BytesIO()
    img.save(buf, format="WEBP" if fmt == "webp" else "JPEG", quality=quality)
    return buf.getvalue(), img.width, img.height


class PreviewSender:
    """One job's previews, from the launch thread to ``publish`` on the loop; ``close`` before
    the job's terminal event (nothing is sent after it)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        encode: Callable[[np.ndarray], Awaitable[tuple[bytes, int, int]]],
        publish: Callable[[int, int, int, bytes, int, int], Awaitable[None]],
    ) -> None:
        self.loop, self.encode, self.publish = loop, encode, publish
        self.tasks: set[asyncio.Task[None]] = set()
        self.count = 0
        self.closed = False

    def offer_from_thread(self, step: int, total: int, rgb: np.ndarray) -> None:
        self.loop.call_soon_threadsafe(self._start, step, total, rgb)

    def _start(self, step: int, total: int, rgb: np.ndarray) -> None:
        if self.closed:
            return
        index, self.count = self.count, self.count + 1
        task = self.loop.create_task(self._send(index, step, total, rgb))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _send(self, index: int, step: int, total: int, rgb: np.ndarray) -> None:
        try:
            data, w, h = await self.encode(rgb)
            if not self.closed:
                await self.publish(index, step, total, data, w, h)
        except Exception as exc:  # noqa: BLE001 - best effort: a lost preview is harmless
            log.debug("preview not sent", error=repr(exc), step=step)

    def close(self) -> None:
        self.closed = True
        for task in list(self.tasks):
            task.cancel()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
