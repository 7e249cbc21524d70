"""A model that cannot load ends its jobs FAILED at once with ``model_unavailable`` and the
loader's message; it is not loaded again for each attempt but after a backoff; the worker
keeps serving its other models (issue 22 item 4). Real diffusers loads of broken directories:
one with a component's files missing, one naming a library that is not installed."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sorami_generator.devices import resolve_placement
from sorami_generator.load_failures import LoadFailures, ModelUnavailable
from sorami_generator.pipelines import PipelineCache
from sorami_generator.settings import ModelSpec
from sorami_generator.tiny_models import model_dir
from sorami_shared.events import FailureCode
from sorami_shared.topology import generator_queue

from .conftest import request, running_worker
from .test_shutdown import queue_depth

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def load_failures(model: str) -> float:
    return sum(
        s.value
        for metric in REGISTRY.collect()
        if metric.name == "sorami_generator_model_load_failures"
        for s in metric.samples
        if s.name.endswith("_total") and s.labels.get("model") == model
    )


def broken_copy(tiny_models_dir: Path, target: Path) -> Path:
    """tiny-image without its unet's files: model_index.json still lists it."""
    shutil.copytree(model_dir(tiny_models_dir, "tiny-image"), target)
    shutil.rmtree(target / "unet")
    return target


def missing_library(tiny_models_dir: Path, target: Path) -> Path:
    shutil.copytree(model_dir(tiny_models_dir, "tiny-image"), target)
    index = json.loads((target / "model_index.json").read_text())
    index["unet"] = ["sorami_no_such_library", "UNet2DConditionModel"]
    (target / "model_index.json").write_text(json.dumps(index))
    return target


def entry(path: Path) -> dict:
    return {"source": str(path), "kind": "image", "pipeline": "StableDiffusionPipeline"}


async def test_jobs_of_a_model_that_cannot_load_fail_at_once_and_others_are_served(
    settings_for, tap, client_bus, tiny_models_dir, tmp_path
):
    broken = broken_copy(tiny_models_dir, tmp_path / "broken")
    settings = settings_for(models={"broken": entry(broken)}, model_retry_backoff_s=300)
    before = load_failures("broken")
    jobs = [request(model="broken", prompt=f"b{i}", user_id=f"u{i}") for i in range(2)]
    good = request(width=32, height=32, prompt="good")
    async with running_worker(settings):
        await client_bus.publish(jobs[0])
        first = await tap.wait_terminal(jobs[0].data.job_id, 60)
        for env in (jobs[1], good):
            await client_bus.publish(env)
        ends = [first] + [await tap.wait_terminal(e.data.job_id, 60) for e in (jobs[1], good)]
    assert await queue_depth(settings.amqp_url, generator_queue("broken")) == 0  # no requeue
    for end in ends[:2]:
        assert end.type == "generation.failed", end.data
        assert end.data.code == FailureCode.MODEL_UNAVAILABLE
        assert "model 'broken' cannot be loaded" in end.data.reason
        assert "no file named config.json" in end.data.reason  # the loader's own words
    assert "next load attempt in" in ends[1].data.reason
    assert load_failures("broken") - before == 1  # loaded once, not once per attempt or job
    assert ends[2].type == "generation.completed"


async def test_a_failed_model_is_tried_again_after_its_backoff_and_then_served(
    tiny_models_dir, tmp_path
):
    target = missing_library(tiny_models_dir, tmp_path / "needs-a-library")
    spec = ModelSpec.model_validate(entry(target))
    cache = PipelineCache(
        {"m": spec}, resolve_placement("cpu"), tiny_models_dir, failures=LoadFailures(4.0, 10.0)
    )
    before = load_failures("m")
    with pytest.raises(ModelUnavailable) as first:
        await cache.get("m")
    assert first.value.code == FailureCode.MODEL_UNAVAILABLE
    assert "sorami_no_such_library" in first.value.reason
    with pytest.raises(ModelUnavailable, match="next load attempt in"):
        await cache.get("m")  # within the backoff: not loaded again
    assert load_failures("m") - before == 1
    shutil.rmtree(target)
    shutil.copytree(model_dir(tiny_models_dir, "tiny-image"), target)  # repaired
    await asyncio.sleep(4.1)
    loaded = await cache.get("m")
    assert type(loaded.pipe).__name__ == "StableDiffusionPipeline"
    assert cache.failures.unavailable() == []
