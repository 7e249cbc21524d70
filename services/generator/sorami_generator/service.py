"""The worker process: connect, consume, and shut down cleanly.

SIGTERM/SIGINT: stop consuming, hand the jobs not yet on the device back at once, give the
running batch ``shutdown_grace_s`` to finish (each job's terminal event is published and its
message acked), else abort it and close the connection so the broker redelivers every
unfinished job to another worker. Returns normally (exit code 0).
"""

from __future__ import annotations

import asyncio
import math
import signal
import time

from sorami_shared.logging import get_logger
from sorami_shared.messaging import EventBus
from sorami_shared.storage import Storage, StorageError, make_storage
from sorami_shared.topology import (
    GENERATOR_CANCELS,
    GENERATOR_REQUESTS,
    generator_queue_spec,
)

from .batcher import Batcher
from .batching import BatchLimits
from .cancels import CancelRegistry
from .compiling import use_cache_dir
from .devices import describe, limit_cpu_threads, resolve_placement
from .jobs import SOURCE, JobProcessor
from .load_failures import LoadFailures, ModelUnavailable
from .pipelines import PipelineCache
from .settings import GeneratorSettings
from .weights import S3Access

log = get_logger(__name__)


def make_pipeline_cache(settings: GeneratorSettings) -> PipelineCache:
    placement = resolve_placement(settings.device, settings.dtype)
    limit_cpu_threads(settings.torch_threads)
    limits = BatchLimits.resolve(settings, cuda=placement.is_cuda)
    use_cache_dir(settings.model_cache_dir)
    max_bytes = (
        int(settings.max_cached_pipeline_gb * 2**30) if settings.max_cached_pipeline_gb else None
    )
    return PipelineCache(
        settings.registry,
        placement,
        settings.model_cache_dir,
        max_pipelines=settings.max_cached_pipelines,
        max_bytes=max_bytes,
        buckets=settings.compile_buckets,
        max_images=limits.max_batch_images,
        failures=LoadFailures(settings.model_retry_backoff_s, settings.model_retry_backoff_max_s),
        s3=weights_s3_access(settings),
    )


def weights_s3_access(settings: GeneratorSettings) -> S3Access:
    """``s3://`` weights are read with the generator's S3 endpoint and credentials."""
    key, secret = settings.s3_access_key_id, settings.s3_secret_access_key
    return S3Access(
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        access_key_id=key.get_secret_value() if key else None,
        secret_access_key=secret.get_secret_value() if secret else None,
    )


async def run_worker(
    settings: GeneratorSettings,
    stop: asyncio.Event,
    *,
    storage: Storage | None = None,
    pipelines: PipelineCache | None = None,
    install_signal_handlers: bool = False,
) -> None:
    if install_signal_handlers:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)

    pipelines = pipelines or make_pipeline_cache(settings)
    storage = storage or make_storage(settings)
    limits = BatchLimits.resolve(settings, cuda=pipelines.placement.is_cuda)
    prefetch = limits.prefetch(settings)
    log.info(
        "generator starting",
        device=pipelines.placement.device,
        dtype=str(pipelines.placement.dtype),
        models=sorted(settings.registry),
        storage=settings.storage_backend,
        prefetch=prefetch,
        max_batch=limits.max_batch,
        max_batch_images=limits.max_batch_images,
        batch_window_ms=limits.window_s * 1000,
        **describe(),
    )
    try:
        await storage.ensure_ready()
    except StorageError as exc:  # jobs retry it; the worker still starts
        log.warning("storage not ready at start", error=str(exc))
    for name in settings.preload_models:
        try:
            await pipelines.get(name)
        except ModelUnavailable:  # logged; its jobs fail model_unavailable, others are served
            pass

    bus = EventBus(settings.amqp_url, source=SOURCE)
    await bus.connect(retry_for=math.inf)
    cancels = CancelRegistry(
        memory_s=settings.cancel_memory_s, max_entries=settings.cancel_memory_max
    )
    batcher = Batcher(limits, buckets=settings.compile_buckets)
    processor = JobProcessor(
        settings,
        bus.publish,
        storage,
        pipelines,
        cancels=cancels,
        batcher=batcher,
        publish_live=bus.publish_live,
    )
    try:
        # every replica reads every cancel, including those said before it started
        await bus.subscribe(GENERATOR_CANCELS, cancels.on_event, replay_s=settings.cancel_memory_s)
        # a queue per model served, and the single queue of earlier releases (drained)
        queues = [generator_queue_spec(model) for model in settings.served]
        for spec in [*queues, GENERATOR_REQUESTS]:
            await bus.consume(spec, processor.handle, prefetch=prefetch)
        log.info("generator consuming", queues=[spec.name for spec in queues])
        await stop.wait()

        log.info("shutting down: no new jobs", grace_s=settings.shutdown_grace_s)
        started = time.monotonic()
        await bus.stop_consuming()
        processor.abort_waiting()  # not started yet: straight back to the queue
        if await bus.drain(settings.shutdown_grace_s):
            log.info("jobs in hand finished", waited_s=round(time.monotonic() - started, 2))
        else:
            log.warning("grace period over; leaving jobs in hand unacknowledged for redelivery")
            processor.abort_all()
    finally:
        await batcher.close()
        await bus.close()  # unacknowledged deliveries go back to the queue
        await storage.close()
    log.info("generator stopped")
