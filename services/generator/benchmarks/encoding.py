"""Encode cost and size of one 512x512 image per output format (issue 27).

    make bench-encode                                   # 512², 20 rounds per format
    python services/generator/benchmarks/encoding.py --smoke

The picture is synthetic but picture-like (gradients, soft waves, hard-edged shapes, a little
sensor noise): random noise would make every format look alike. For each format and
compression it prints the median encode ms and the bytes, with the generation's parameters
embedded (what a job writes); then a batch of images encoded one after another against the
generator's thread pool (:func:`sorami_generator.encoding.encode_images`), as a ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
from sorami_generator.encoding import ImageEncoding, encode_image, encode_images

CASES = [("png", None), ("jpeg", 100), ("jpeg", 75), ("webp", 100), ("webp", 75)]
METADATA = {
    "prompt": "a red fox in the snow, golden hour, 35mm",
    "negative_prompt": "blurry",
    "seed": "42",
    "model": "sd-turbo",
    "steps": "4",
    "guidance_scale": "0.0",
    "job_id": "6f1d2c7e-4b0a-4e53-9d0c-5a6f3f1e2b90",
}


def picture(size: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    img = np.stack([200 * x + 30, 160 * y + 40, 120 * (1 - x * y) + 60], axis=-1)
    for _ in range(6):  # soft waves of a few frequencies
        fx, fy, phase = rng.uniform(1, 12, 2).tolist() + [rng.uniform(0, 6.3)]
        img += rng.uniform(5, 25) * np.sin(2 * np.pi * (fx * x + fy * y) + phase)[..., None]
    for _ in range(8):  # hard-edged shapes
        x0, y0 = rng.integers(0, size - size // 4, 2)
        w, h = rng.integers(size // 16, size // 4, 2)
        img[y0 : y0 + h, x0 : x0 + w] = rng.uniform(0, 255, 3)
    img += rng.normal(0, 3, img.shape)  # sensor noise
    return np.clip(img, 0, 255).astype(np.uint8)


def median_ms(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="3 rounds, a batch of 4 (a check)")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--batch", type=int, default=8, help="images in the parallel comparison")
    args = ap.parse_args()
    rounds, batch = (3, 4) if args.smoke else (args.rounds, args.batch)
    img = picture(args.size)
    print(f"encoding one {args.size}x{args.size} image, median of {rounds} rounds, metadata on")
    for fmt, quality in CASES:
        enc = ImageEncoding(fmt, quality, METADATA)
        data = encode_image(img, enc)
        ms = median_ms(lambda enc=enc: encode_image(img, enc), rounds)
        label = fmt if quality is None else f"{fmt} q{quality}"
        print(f"[{label}] {ms:.1f} ms, {len(data)} bytes ({len(data) / img.nbytes:.3f} of raw)")
    images = np.stack([picture(args.size, seed) for seed in range(batch)])
    enc = ImageEncoding("png", None, METADATA)
    serial = median_ms(lambda: [encode_image(i, enc) for i in images], max(1, rounds // 4))
    pooled = median_ms(lambda: encode_images(images, enc), max(1, rounds // 4))
    print(
        f"[parallel] {batch} png images: one after another {serial:.0f} ms, on the pool "
        f"{pooled:.0f} ms = {serial / pooled:.2f}x ({os.cpu_count()} cores)"
    )


if __name__ == "__main__":
    main()
