"""The real ``sorami`` command against a real gateway (uvicorn on 127.0.0.1): a closed pipe
ends it quietly, a prompt's escape sequences are shown escaped, never sent raw to the
terminal, and a non-finite number is a usage error, not a traceback."""

from __future__ import annotations

import asyncio
import shlex
import sys
from pathlib import Path

import httpx
from sorami_gateway.app import create_app

from tests.integration.gateway.conftest import SMALL_IMAGE, make_token
from tests.integration.security.live_server import serve

SORAMI = Path(sys.executable).parent / "sorami"
EVIL = "a fox \x1b[2J\x1b]0;pwned\x07 \x9b31m red \u202eevil"


async def sh(command: str) -> tuple[int, str, str]:
    run = await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(run.communicate(), 60)
    return run.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")


async def test_closed_pipe_escapes_and_nan(settings):
    token = make_token("alice")
    async with serve(create_app(settings)) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            created = await client.post(
                "/api/images/generate",
                json={**SMALL_IMAGE, "prompt": EVIL},
                headers={"Authorization": f"Bearer {token}"},
            )
        assert created.status_code == 202, created.text
        job_id = created.json()["job_id"]
        common = f"--url {base} --token {token}"

        # the reader is gone before the command writes: no BrokenPipeError traceback
        for reader in ("true", "head -c 0", "head -5"):
            code, _, err = await sh(f"{SORAMI} status {job_id} {common} | {reader}")
            assert "Traceback" not in err and "BrokenPipe" not in err, (reader, err)
        code, _, err = await sh(f"set -o pipefail; {SORAMI} history image {common} | true")
        assert code in (0, 141) and "Traceback" not in err, err

        # the prompt in plain-text output: escaped, readable, no raw control character
        code, out, err = await sh(f"{SORAMI} history image {common}")
        assert code == 0, err
        assert job_id in out
        assert "\\x1b[2J" in out and "\\x9b31m" in out and "\\u202e" in out
        assert not any(ch in out for ch in "\x1b\x07\x9b\u202e")

        # an API error that echoes the input (a 422 on a bad width) is escaped too
        code, _, err = await sh(
            f"{SORAMI} generate image {shlex.quote(EVIL)} --width 1032 {common}"
        )
        assert code == 1 and "width" in err
        assert "Traceback" not in err and "\x1b" not in err

    for value in ("nan", "inf", "-Infinity", "1e999"):
        code, _, err = await sh(f"{SORAMI} generate image x --guidance-scale={value}")
        assert code == 2, err
        assert "--guidance-scale: must be a finite number" in err and "Traceback" not in err
