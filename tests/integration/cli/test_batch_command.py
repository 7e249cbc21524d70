"""``sorami batch FILE.jsonl --wait`` against a real gateway: one request for the whole file,
a progress bar of finished jobs until the batch is done; a bad line is a usage error."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import sqlalchemy as sa
from sorami_gateway.app import create_app

from tests.integration.gateway.conftest import SMALL_IMAGE, make_token
from tests.integration.security.live_server import serve

SORAMI = Path(sys.executable).parent / "sorami"


async def test_batch_file_waits_with_a_progress_bar(settings, engine, tmp_path):
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text("\n".join(json.dumps({**SMALL_IMAGE, "prompt": f"p{i}"}) for i in range(3)))
    token = make_token("alice")
    async with serve(create_app(settings)) as base:
        run = await asyncio.create_subprocess_exec(
            str(SORAMI),
            "batch",
            str(jobs),
            "--wait",
            "--timeout",
            "60",
            "--url",
            base,
            "--token",
            token,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(200):  # the batch is stored; its jobs "complete" (as the projector would)
            async with engine.begin() as conn:
                done = await conn.execute(
                    sa.text(
                        "UPDATE generations SET status = 'COMPLETED', progress = 100"
                        " WHERE batch_id IS NOT NULL AND user_id = 'alice'"
                    )
                )
            if done.rowcount == 3:
                break
            await asyncio.sleep(0.1)
        out, err = await asyncio.wait_for(run.communicate(), 60)
        assert run.returncode == 0, err.decode()
        assert "3 COMPLETED" in out.decode()
        assert "3/3" in err.decode() and "100%" in err.decode()  # the bar, on stderr

        bad = tmp_path / "bad.jsonl"
        bad.write_text('{"prompt": "ok"}\nnot json\n')
        run = await asyncio.create_subprocess_exec(
            str(SORAMI),
            "batch",
            str(bad),
            "--url",
            base,
            "--token",
            token,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(run.communicate(), 60)
        assert run.returncode == 2 and "bad.jsonl:2: not JSON" in err.decode()
