"""Loading pipelines once and keeping the most recently used ones (LRU, bounded by count and
optionally by size). Every model, built-in or real, goes through ``from_pretrained``."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from sorami_shared.logging import get_logger
from sorami_shared.model_registry import ModelSpec

from . import metrics
from .compiling import compile_pipeline, warm_up
from .devices import Placement, release_memory
from .families import check_loaded
from .instant_model import NAME as INSTANT
from .instant_model import InstantPipeline
from .interrupts import install_block_checks
from .load_failures import LoadFailures
from .loaded import LoadedPipeline
from .memory import place
from .quiet import quiet_libraries
from .weights import S3Access, locate

log = get_logger(__name__)


def resolve_source(spec: ModelSpec, cache_dir: Path, s3: S3Access | None = None) -> str:
    """A local directory or hub id for ``from_pretrained`` (weights/: builds a built-in,
    syncs s3:// weights)."""
    return locate(spec, cache_dir, s3).source


def load_pipeline(
    name: str,
    spec: ModelSpec,
    placement: Placement,
    cache_dir: Path,
    buckets: list[int] | None = None,
    max_images: int = 8,
    s3: S3Access | None = None,
) -> LoadedPipeline:
    """Blocking: build (tiny models), load and place one pipeline; compile and warm it up
    if its entry asks for it (compiling.py)."""
    import diffusers

    if spec.builtin == INSTANT:  # test-only: no weights, no compute (instant_model.py)
        return LoadedPipeline(name, spec, InstantPipeline(), placement, 0, 0.0)
    quiet_libraries()
    started = time.perf_counter()
    located = locate(spec, Path(cache_dir), s3)
    source = located.source
    cls = (
        diffusers.DiffusionPipeline
        if spec.pipeline == "auto"
        else getattr(diffusers, spec.pipeline)
    )
    kwargs: dict[str, Any] = {"dtype": placement.dtype}
    if spec.variant:
        kwargs["variant"] = spec.variant
    kwargs.update(located.kwargs)  # hub: revision, cache_dir, local_files_only
    pipe = cls.from_pretrained(source, **kwargs)
    check_loaded(spec, pipe)  # a pipeline its entry's family does not serve: a clear error
    pipe = place(pipe, spec, placement)  # memory.py: offload, VAE tiling and slicing
    if hasattr(pipe, "set_progress_bar_config"):
        pipe.set_progress_bar_config(disable=True)
    size = _size_bytes(pipe)
    loaded = LoadedPipeline(name, spec, pipe, placement, size, 0.0, compiled=spec.compile)
    compile_s = 0.0
    if spec.compile:
        t0 = time.perf_counter()
        compile_pipeline(pipe, buckets or [1])
        warm_up(loaded, buckets or [1], spec.max_batch_images or max_images)
        compile_s = time.perf_counter() - t0
    else:
        loaded.block_checks = install_block_checks(pipe)
    loaded.load_s = took = time.perf_counter() - started
    log.info(
        "pipeline loaded",
        model=name,
        pipeline=type(pipe).__name__,
        device=placement.device,
        dtype=str(placement.dtype),
        size_mb=round(size / 2**20, 1),
        load_s=round(took, 2),
        compiled=spec.compile,
        compile_s=round(compile_s, 2),
    )
    metrics.model_loaded(name, took)
    return loaded


def _size_bytes(pipe: Any) -> int:
    import torch

    total = 0
    for component in getattr(pipe, "components", {}).values():
        if isinstance(component, torch.nn.Module):
            total += sum(p.numel() * p.element_size() for p in component.parameters())
            total += sum(b.numel() * b.element_size() for b in component.buffers())
    return total


class PipelineCache:
    """Loads each model once; evicts the least recently used beyond the bounds."""

    def __init__(
        self,
        registry: dict[str, ModelSpec],
        placement: Placement,
        cache_dir: Path,
        *,
        max_pipelines: int = 2,
        max_bytes: int | None = None,
        buckets: list[int] | None = None,
        max_images: int = 8,
        failures: LoadFailures | None = None,
        s3: S3Access | None = None,
    ) -> None:
        self.s3 = s3
        self.failures = failures or LoadFailures()
        self.buckets = buckets
        self.max_images = max_images
        self.registry = registry
        self.placement = placement
        self.cache_dir = Path(cache_dir)
        self.max_pipelines = max_pipelines
        self.max_bytes = max_bytes
        self._loaded: OrderedDict[str, LoadedPipeline] = OrderedDict()
        self._lock = asyncio.Lock()
        metrics.MODELS_LOADED.set_function(lambda: len(self._loaded))

    def __contains__(self, name: str) -> bool:
        return name in self._loaded

    @property
    def loaded(self) -> list[str]:
        return list(self._loaded)

    async def get(self, name: str) -> LoadedPipeline:
        async with self._lock:
            if name in self._loaded:
                self._loaded.move_to_end(name)
                return self._loaded[name]
            spec = self.registry[name]
            self.failures.check(name)  # failed lately: its jobs fail at once (load_failures.py)
            # Make room first, so the old pipeline's memory is free before the new one loads.
            self._evict(keep=self.max_pipelines - 1)
            try:
                loaded = await asyncio.to_thread(
                    load_pipeline,
                    name,
                    spec,
                    self.placement,
                    self.cache_dir,
                    self.buckets,
                    self.max_images,
                    self.s3,
                )
            except Exception as exc:  # noqa: BLE001 - any load failure makes it unavailable
                release_memory(self.placement)
                raise self.failures.failed(name, exc) from exc
            self.failures.loaded(name)
            self._loaded[name] = loaded
            self._evict(keep=self.max_pipelines, protect=name)
            return loaded

    def _evict(self, keep: int, protect: str | None = None) -> None:
        def too_big() -> bool:
            if self.max_bytes is None:
                return False
            return sum(p.size_bytes for p in self._loaded.values()) > self.max_bytes

        evicted = False
        while self._loaded and (len(self._loaded) > max(keep, 0) or too_big()):
            oldest = next(iter(self._loaded))
            if oldest == protect:
                break
            self._loaded.pop(oldest)
            log.info("pipeline evicted", model=oldest)
            evicted = True
        if evicted:
            release_memory(self.placement)

    def evict_all_but(self, name: str | None) -> None:
        """After an out-of-memory error: keep at most the pipeline in use."""
        for other in [n for n in self._loaded if n != name]:
            self._loaded.pop(other)
            log.info("pipeline evicted after out-of-memory", model=other)
        release_memory(self.placement)
