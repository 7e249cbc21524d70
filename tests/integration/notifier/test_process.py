"""``sorami-notifier migrate`` and ``sorami-notifier run`` as real processes: SIGTERM → exit 0."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import aio_pika
import pytest
from sorami_shared.events import FileInfo, GenerationCompleted, Kind, new_event
from sorami_shared.messaging import EventBus
from sorami_shared.topology import EXCHANGE

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

BIN = Path(sys.executable).parent


async def test_migrate_run_and_sigterm_exit_zero(amqp_url, make_database, tmp_path) -> None:
    env = {
        **os.environ,
        "SORAMI_NOTIFIER_DATABASE_URL": await make_database("notifier"),
        "SORAMI_NOTIFIER_AMQP_URL": amqp_url,
        "SORAMI_NOTIFIER_ENVIRONMENT": "test",
        "SORAMI_NOTIFIER_LOG_FORMAT": "json",
    }
    migrate = await asyncio.to_thread(
        subprocess.run,
        [str(BIN / "sorami-notifier"), "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert migrate.returncode == 0, migrate.stderr + migrate.stdout
    # Idempotent: a second migrate is a no-op.
    again = await asyncio.to_thread(
        subprocess.run,
        [str(BIN / "sorami-notifier"), "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 0, again.stderr

    log = tmp_path / "notifier.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(  # noqa: ASYNC220
            [str(BIN / "sorami-notifier"), "run"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        bus = EventBus(amqp_url, source="test")
        await bus.connect()  # declares the topology
        conn = await aio_pika.connect(amqp_url)
        ch = await conn.channel()
        q = await ch.declare_queue("test.created", exclusive=True)
        await q.bind(EXCHANGE, routing_key="notification.created")
        job = uuid.uuid4()
        await bus.publish(
            new_event(
                GenerationCompleted(
                    job_id=job,
                    user_id="alice",
                    kind=Kind.IMAGE,
                    model="tiny",
                    seed=1,
                    files=[
                        FileInfo(
                            index=0,
                            key=f"image/{job}/0.png",
                            mime_type="image/png",
                            bytes=1,
                            width=8,
                            height=8,
                        )
                    ],
                ),
                source="test",
                correlation_id="corr-process",
            )
        )
        await bus.close()
        msg = None
        for _ in range(300):
            msg = await q.get(fail=False)
            if msg is not None:
                break
            await asyncio.sleep(0.1)
        await conn.close()
        assert msg is not None, log.read_text()
        assert str(job) in msg.body.decode()
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = await asyncio.to_thread(proc.wait, 30)
    text = log.read_text()
    assert rc == 0, text
    assert '"correlation_id": "corr-process"' in text  # the job's context is in the JSON logs
    assert "notifier stopped" in text
