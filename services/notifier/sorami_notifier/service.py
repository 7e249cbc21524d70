"""The notifier process: connect, consume until told to stop, drain, close."""

from __future__ import annotations

from sorami_shared.logging import get_logger
from sorami_shared.messaging import EventBus
from sorami_shared.retrying import retry_until_up
from sorami_shared.topology import NOTIFIER_OUTCOMES

from . import metrics
from .handler import SOURCE, OutcomeHandler
from .settings import NotifierSettings
from .store import check_database, is_transient, make_engine

log = get_logger(__name__)


class NotifierService:
    def __init__(self, settings: NotifierSettings) -> None:
        self.settings = settings
        self.engine = make_engine(settings.database_url)
        self.bus = EventBus(settings.amqp_url, source=SOURCE, is_transient=is_transient)

    async def start(self, *, retry_for: float | None = float("inf")) -> None:
        await self._wait_for_database(retry_for)
        await self.bus.connect(retry_for=retry_for)
        handler = OutcomeHandler(self.engine, self.bus)
        await self.bus.consume_batches(
            NOTIFIER_OUTCOMES,
            handler.handle_batch,
            metrics.counting_failures(handler, channel="inbox"),
            prefetch=self.settings.prefetch,
            max_batch=self.settings.max_batch,
        )
        log.info("notifier consuming", queue=NOTIFIER_OUTCOMES.name)

    async def stop(self) -> None:
        await self.bus.stop_consuming()
        if not await self.bus.drain(self.settings.shutdown_grace_s):
            log.warning("handlers still running at shutdown; their messages will be redelivered")
        await self.bus.close()
        await self.engine.dispose()
        log.info("notifier stopped")

    async def _wait_for_database(self, retry_for: float | None) -> None:
        await retry_until_up(
            lambda: check_database(self.engine),
            retry_for=retry_for,
            errors=(Exception,),  # any connect error
            log=log,
            unreachable="database unreachable, retrying",
        )
