"""Weights from where clusters keep them (issue 22 item 5), on real components:

- ``s3://bucket/prefix`` on a real SeaweedFS: two processes (two replicas on one node) sync
  the same model at once and download each object once; the copy loads through
  ``from_pretrained``; a changed object alone is downloaded again, a damaged local file is
  replaced.
- a hub id at a pinned revision loads from the hub cache with ``HF_HUB_OFFLINE=1`` and no
  network; an unknown one fails at once, naming it.
- memory options from the registry are applied to the loaded pipeline.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sorami_generator.devices import Placement, resolve_placement
from sorami_generator.memory import OFFLOAD_METHODS, offload_method, place
from sorami_generator.pipelines import load_pipeline
from sorami_generator.settings import ModelSpec
from sorami_generator.tiny_models import model_dir
from sorami_generator.weights import S3Access
from sorami_generator.weights.s3_sync import sync_s3

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

SYNC = """
import json, sys
from sorami_generator.weights import S3Access
from sorami_generator.weights.s3_sync import sync_s3
access = S3Access(*sys.argv[3:7])
r = sync_s3(sys.argv[1], sys.argv[2], access.client)
print(json.dumps({"path": str(r.path), "downloaded": r.downloaded, "reused": r.reused,
                  "seconds": r.seconds, "bytes": r.bytes_downloaded}))
"""


def upload(client, bucket: str, prefix: str, source: Path) -> int:
    client.create_bucket(Bucket=bucket)
    files = [p for p in source.rglob("*") if p.is_file()]
    for path in files:
        client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(source).as_posix()}")
    return len(files)


def access_of(seaweed) -> S3Access:
    return S3Access(seaweed.endpoint_url, seaweed.region, seaweed.access_key, seaweed.secret_key)


def test_s3_weights_sync_once_per_node_then_only_what_changed(seaweed, tiny_models_dir, tmp_path):
    client = seaweed.client()
    n = upload(client, "weights", "tiny/image", model_dir(tiny_models_dir, "tiny-image"))
    url, root = "s3://weights/tiny/image", tmp_path / "cache" / "s3"
    a = access_of(seaweed)
    args = [url, str(root), a.endpoint_url, a.region, a.access_key_id, a.secret_access_key]
    procs = [
        subprocess.Popen([sys.executable, "-c", SYNC, *args], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    reports = [json.loads(p.communicate(timeout=120)[0].splitlines()[-1]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert reports[0]["path"] == reports[1]["path"]
    assert sorted(r["downloaded"] for r in reports) == [0, n]  # once, by one of the two
    first = max(reports, key=lambda r: r["downloaded"])

    spec = ModelSpec(source=url, kind="image", pipeline="StableDiffusionPipeline")
    t0 = time.perf_counter()
    loaded = load_pipeline("s3-model", spec, resolve_placement("cpu"), tmp_path / "cache", s3=a)
    warm_s = time.perf_counter() - t0  # the copy is up to date: listing only
    assert type(loaded.pipe).__name__ == "StableDiffusionPipeline"

    config = json.loads((Path(first["path"]) / "scheduler/scheduler_config.json").read_text())
    config["steps_offset"] = 0
    client.put_object(
        Bucket="weights",
        Key="tiny/image/scheduler/scheduler_config.json",
        Body=json.dumps(config).encode(),
    )
    again = sync_s3(url, root, a.client)
    assert (again.downloaded, again.reused) == (1, n - 1)
    assert json.loads((again.path / "scheduler/scheduler_config.json").read_text()) == config

    damaged = again.path / "unet" / "config.json"
    damaged.write_text("{}")
    fixed = sync_s3(url, root, a.client)
    assert fixed.downloaded == 1 and json.loads(damaged.read_text()) != {}
    print(
        f"[weights] s3 sync of {n} files, {first['bytes'] / 2**20:.1f} MiB: first "
        f"{first['seconds']:.2f} s (two replicas at once, one download), load of an up-to-date "
        f"copy {warm_s:.2f} s, one changed object {again.seconds:.2f} s"
    )


def test_hub_id_at_a_pinned_revision_loads_offline_from_the_hub_cache(
    tiny_models_dir, tmp_path, monkeypatch
):
    revision = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--sorami--tiny-image"
    shutil.copytree(model_dir(tiny_models_dir, "tiny-image"), repo / "snapshots" / revision)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = ModelSpec(
        source="sorami/tiny-image",
        revision=revision,
        kind="image",
        pipeline="StableDiffusionPipeline",
    )
    loaded = load_pipeline("hub-model", spec, resolve_placement("cpu"), tmp_path)
    assert type(loaded.pipe).__name__ == "StableDiffusionPipeline"
    missing = spec.model_copy(update={"source": "sorami/not-cached"})
    t0 = time.perf_counter()
    with pytest.raises(Exception, match="outgoing traffic has been disabled"):
        load_pipeline("missing", missing, resolve_placement("cpu"), tmp_path)
    assert time.perf_counter() - t0 < 10  # no network retries


def test_memory_options_are_applied_to_the_loaded_pipeline(tiny_models_dir):
    cpu = resolve_placement("cpu")
    spec = ModelSpec(
        source="builtin:tiny-image", kind="image", pipeline="StableDiffusionPipeline",
        vae_tiling=True, vae_slicing=True, offload="model",
    )  # fmt: skip
    loaded = load_pipeline("m", spec, cpu, tiny_models_dir)
    assert loaded.pipe.vae.use_tiling and loaded.pipe.vae.use_slicing
    plain_spec = ModelSpec(
        source="builtin:tiny-image", kind="image", pipeline="StableDiffusionPipeline"
    )
    plain = load_pipeline("p", plain_spec, cpu, tiny_models_dir)
    assert not plain.pipe.vae.use_tiling and not plain.pipe.vae.use_slicing
    # On a CPU there is nothing to offload to: placed as usual, and it still generates.
    assert offload_method(spec, cpu) is None
    assert not hasattr(loaded.pipe.unet, "_hf_hook")
    out = loaded.pipe("x", width=64, height=64, num_inference_steps=1, output_type="np")
    assert out.images.shape == (1, 64, 64, 3)


@pytest.mark.parametrize("offload", ["model", "sequential"])
def test_offload_on_an_accelerator_calls_diffusers_own_method(offload, tiny_models_dir):
    """No accelerator here: the decision is checked on a CUDA placement, and the call it makes
    on a real pipeline is recorded instead of moving weights to a device that is absent."""
    import torch
    from diffusers import StableDiffusionPipeline

    spec = ModelSpec(source="builtin:tiny-image", kind="image", offload=offload)
    cuda = Placement("cuda", torch.float16)
    assert offload_method(spec, cuda) == OFFLOAD_METHODS[offload]
    pipe = StableDiffusionPipeline.from_pretrained(model_dir(tiny_models_dir, "tiny-image"))
    calls: list[tuple[str, dict]] = []
    for name in OFFLOAD_METHODS.values():
        setattr(pipe, name, lambda name=name, **kw: calls.append((name, kw)))
    pipe.to = lambda *a, **kw: calls.append(("to", kw))  # type: ignore[method-assign]
    assert place(pipe, spec, cuda) is pipe
    assert calls == [(OFFLOAD_METHODS[offload], {"device": "cuda"})]  # and no .to(cuda)
