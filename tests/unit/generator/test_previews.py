"""Preview scheduling and the latent→RGB projection (pure logic)."""

import torch
from sorami_generator.previews import PreviewSchedule, encode_preview, project


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def steps_with_previews(total: int, most: int, interval: float, step_s: float) -> list[int]:
    clock = Clock()
    schedule = PreviewSchedule(total, most, interval, clock)
    due = []
    for step in range(1, total + 1):
        clock.now = step * step_s
        if schedule.due(step):
            due.append(step)
    return due


def test_at_most_four_spread_over_the_steps_never_at_the_last():
    assert steps_with_previews(20, 4, 0.25, 1.0) == [4, 8, 12, 16]
    assert steps_with_previews(4, 4, 0.0, 1.0) == [1, 2, 3]
    assert steps_with_previews(1, 4, 0.0, 1.0) == []
    assert steps_with_previews(20, 2, 0.0, 1.0) == [7, 14]
    assert steps_with_previews(20, 0, 0.0, 1.0) == []


def test_a_preview_held_back_by_the_interval_goes_later():
    # 20 steps of 50 ms: 250 ms apart means every 5th step at most
    assert steps_with_previews(20, 4, 0.25, 0.05) == [4, 9, 14, 19]


def test_projection_per_family_and_shapes_that_do_not_fit():
    sd = project(torch.zeros(4, 8, 6), "sd", 64, 48)
    assert sd.shape == (8, 6, 3) and sd.dtype.name == "uint8" and int(sd[0, 0, 0]) == 127
    packed = torch.randn(4 * 3, 64)  # FLUX: (h/2 * w/2) patches of 16 channels x 2 x 2
    assert project(packed, "flux", 64, 48).shape == (8, 6, 3)
    assert project(torch.zeros(16, 8, 8), "sd", 64, 64) is None  # wrong channel count
    assert project(torch.zeros(32, 8, 8), "sana", 256, 256) is None  # no factors


def test_previews_are_small_webp_or_jpeg():
    rgb = project(torch.randn(4, 64, 64), "sdxl", 512, 512)
    data, w, h = encode_preview(rgb, 256, "webp", 60)
    assert (w, h) == (256, 256) and data[8:12] == b"WEBP" and len(data) < 60_000
    data, w, h = encode_preview(rgb[:32], 256, "jpeg", 60)
    assert (w, h) == (256, 128) and data[:2] == b"\xff\xd8"
