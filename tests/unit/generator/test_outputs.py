import io
import uuid

import imageio_ffmpeg
import numpy as np
from PIL import Image
from sorami_generator.outputs import encode_mp4, encode_outputs, encode_png
from sorami_generator.runner import to_uint8
from sorami_shared.events import Kind


def frames(n, h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 255, (n, h, w, 3), dtype=np.uint8)


def test_png_round_trips_and_is_deterministic():
    img = frames(1, 24, 40)[0]
    data = encode_png(img)
    assert data == encode_png(img)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), img)


def test_mp4_is_h264_yuv420p_and_odd_sizes_are_padded_to_even(tmp_path):
    for h, w in ((64, 64), (63, 65)):
        path = tmp_path / f"{h}x{w}.mp4"
        path.write_bytes(encode_mp4(frames(6, h, w), fps=12))
        reader = imageio_ffmpeg.read_frames(str(path))
        meta = next(reader)
        assert meta["codec"] == "h264" and meta["pix_fmt"].startswith("yuv420p")
        assert meta["size"] == (w + w % 2, h + h % 2) and meta["fps"] == 12
        assert sum(1 for _ in reader) == 6


def test_outputs_describe_files_with_conventional_keys():
    job = uuid.uuid4()
    images = encode_outputs(Kind.IMAGE, job, frames(2, 16, 24), None)
    assert [f.key for f in images.files] == [f"image/{job}/0.png", f"image/{job}/1.png"]
    assert (images.files[0].width, images.files[0].height) == (24, 16)
    videos = encode_outputs(Kind.VIDEO, job, frames(1, 16, 16)[None].repeat(4, axis=1), 4)
    [v] = videos.files
    assert (v.key, v.poster_key, v.frame_count, v.fps, v.duration_s) == (
        f"video/{job}/0.mp4",
        f"video/{job}/0.png",
        4,
        4.0,
        1.0,
    )
    assert [b.key for b in videos.blobs] == [v.poster_key, v.key]
    assert v.bytes == len(videos.blobs[1].data)


def test_pipeline_outputs_are_normalised_to_uint8():
    out = to_uint8(np.full((2, 8, 8, 3), 0.5, dtype=np.float32), video=False)
    assert out.dtype == np.uint8 and out.shape == (2, 8, 8, 3) and out[0, 0, 0, 0] == 128
    pil = [[Image.new("RGB", (8, 4))] * 3]
    assert to_uint8(pil, video=True).shape == (1, 3, 4, 8, 3)
