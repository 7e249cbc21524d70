"""The README's webhook example, as written, against the whole system in development (what
`make run` uses): its ten-line receiver, run as a process, gets the `completed` of a job
submitted with `sorami generate ... --webhook`, verifies its signature, and prints the job id
and a file URL that downloads the image."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.system import PNG_MAGIC, ROOT, System
from tests.support.infra import free_port

from .test_system_local import sorami

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


def readme_receiver(port: int) -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Webhooks") :]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code, "README: no python receiver under ### Webhooks"
    assert len(code.group(1).strip().splitlines()) <= 12
    return code.group(1).replace("9000", str(port))


async def test_the_readme_receiver_gets_a_verified_completed(make_system, tmp_path: Path):
    system: System = await make_system(gateway_overrides={"ENVIRONMENT": "development"})
    token = system.token("alice")
    async with httpx.AsyncClient(base_url=system.base_url, timeout=10) as client:
        r = await client.get("/api/webhooks/secret", headers={"Authorization": f"Bearer {token}"})
        secret = r.json()["secret"]
    port = free_port()
    script = tmp_path / "receiver.py"
    script.write_text(readme_receiver(port))
    env = {**os.environ, "SORAMI_WEBHOOK_SECRET": secret, "PYTHONUNBUFFERED": "1"}
    receiver = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await asyncio.sleep(0.5)  # let it bind
        submitted = await sorami(
            system,
            "alice",
            "generate",
            "image",
            "a fox",
            "--width",
            "64",
            "--height",
            "64",
            "--steps",
            "2",
            "--webhook",
            f"http://127.0.0.1:{port}/hooks/sorami",
        )
        assert submitted.returncode == 0, submitted.stderr
        job_id = submitted.stdout.strip()
        started = time.monotonic()
        line = (await asyncio.wait_for(receiver.stdout.readline(), 120)).decode()
        print(
            f"\n[webhooks] README receiver got: {line.strip()[:90]}... "
            f"{time.monotonic() - started:.1f}s after submit"
        )
        kind, got_id, urls = line.split(" ", 2)
        assert (kind, got_id) == ("generation.completed", job_id)
        url = re.search(r"'([^']+)'", urls).group(1)
        async with httpx.AsyncClient(timeout=10) as client:
            image = await client.get(url)
            assert image.status_code == 200 and image.content.startswith(PNG_MAGIC)
            listed = await client.get(
                f"{system.base_url}/api/images/{job_id}/webhooks",
                headers={"Authorization": f"Bearer {token}"},
            )
        [delivery] = listed.json()["items"]
        assert (delivery["status"], delivery["response_code"]) == ("succeeded", 204)
    finally:
        receiver.terminate()
        await receiver.wait()
