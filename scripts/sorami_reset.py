#!/usr/bin/env python3
"""``make reset``: stop Sorami and forget everything the development system holds.

``make up`` reuses the development databases and broker, so jobs queued by an earlier run are
processed first. This stops every process (``make down``), drops the databases named in
deploy/local.env (``sorami_gateway``, ``sorami_notifier``), deletes Sorami's queues, their
dead-letter queues and the cancel stream in the broker's vhost, and empties the local media
directory. The built tiny models (``.data/models``) are kept. The next ``make up`` starts clean.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run_state  # noqa: E402  (scripts/run_state.py)
from sorami_up import DEFAULT_DATABASES, admin_connection  # noqa: E402

ROOT = run_state.ROOT


def say(message: str) -> None:
    print(f"[reset] {message}", flush=True)


async def drop_database(url: str) -> None:
    conn, name = await admin_connection(url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
    say(f"database {name}: dropped")


async def delete_queues(amqp_url: str) -> None:
    from sorami_shared.messaging.connection import broker_urls, connect_failover
    from sorami_shared.topology import ALL_QUEUES, GENERATOR_CANCELS

    names = [n for q in ALL_QUEUES for n in (q.name, q.dead_letter_queue)]
    names += [q.release_queue for q in ALL_QUEUES if q.release_dead_letters]
    names.append(GENERATOR_CANCELS.name)
    connection = await connect_failover(amqp_url)  # one URL or a cluster's nodes
    async with connection:
        channel = await connection.channel()
        for name in names:
            await channel.queue_delete(name)  # deleting a missing queue is not an error
    vhost = urlsplit(broker_urls(amqp_url)[0]).path.lstrip("/") or "/"
    say(f"broker vhost {vhost}: deleted {', '.join(names)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env-file", type=Path, default=ROOT / "deploy" / "local.env")
    args = parser.parse_args(argv)
    env = run_state.process_env(args.env_file)

    subprocess.run([sys.executable, str(ROOT / "scripts" / "sorami_down.py")], check=True)
    for key, default in DEFAULT_DATABASES.items():
        asyncio.run(drop_database(env.get(key, default)))
    asyncio.run(delete_queues(env.get("SORAMI_GATEWAY_AMQP_URL", "amqp://guest:guest@127.0.0.1/")))
    for key in ("SORAMI_GATEWAY_STORAGE_LOCAL_DIR", "SORAMI_GENERATOR_STORAGE_LOCAL_DIR"):
        media = ROOT / env.get(key, ".data/media")
        if media.is_dir():
            shutil.rmtree(media)
            say(f"{media.relative_to(ROOT) if media.is_relative_to(ROOT) else media}: cleared")
    say("done; `make up` starts from empty databases and queues")
    return 0


if __name__ == "__main__":
    sys.exit(main())
