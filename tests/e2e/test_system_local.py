"""The whole system with the local storage backend (what `make run` uses), driven through the
`sorami` command line: signed, expiring /media URLs served by the gateway; a tampered
signature refused; readable errors and exit codes for bad input and failed jobs."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.e2e.system import BIN, PNG_MAGIC, System, is_mp4

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


async def sorami(system: System, user: str | None, *args: str) -> subprocess.CompletedProcess:
    argv = [str(BIN / "sorami"), *args]
    if user is not None:
        argv += ["--url", system.base_url, "--token", system.token(user)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SORAMI_")}
    env["SORAMI_GATEWAY_ENVIRONMENT"] = "test"
    env["SORAMI_ENV_FILE"] = "/nonexistent"
    return await asyncio.to_thread(
        subprocess.run, argv, capture_output=True, text=True, timeout=120, env=env
    )


async def test_local_storage_through_the_cli(make_system, tmp_path: Path) -> None:
    system: System = await make_system(
        image_models=["tiny-image", "ghost-image"],
        gateway_models={"ghost-image": {"source": "ghost/none", "kind": "image"}},
    )
    out = tmp_path / "out"

    # --- an image and a video, followed with --wait, files downloaded --------------------
    image = await sorami(
        system,
        "dana",
        "generate",
        "image",
        "a red fox",
        "--width",
        "64",
        "--height",
        "64",
        "--steps",
        "2",
        "--num-images",
        "2",
        "--wait",
        "--out",
        str(out),
        "--json",
    )
    assert image.returncode == 0, image.stderr
    assert "COMPLETED" in image.stderr and "%" in image.stderr  # the progress bar
    result = json.loads(image.stdout)
    assert result["status"] == "COMPLETED" and len(result["saved"]) == 2
    for saved in result["saved"]:
        assert Path(saved["path"]).read_bytes().startswith(PNG_MAGIC)  # noqa: ASYNC240
        assert saved["url"].startswith(f"{system.base_url}/media/image/{result['job_id']}/")
        assert saved["content_type"] == "image/png"

    video = await sorami(
        system,
        "dana",
        "generate",
        "video",
        "waves",
        "--width",
        "64",
        "--height",
        "64",
        "--steps",
        "2",
        "--num-frames",
        "8",
        "--fps",
        "8",
        "--wait",
        "--out",
        str(out),
    )
    assert video.returncode == 0, video.stderr
    assert "COMPLETED" in video.stdout and "/media/video/" in video.stdout
    [mp4] = list(out.glob("*-0.mp4"))
    assert is_mp4(mp4.read_bytes())
    [poster] = list(out.glob("*-0-poster.png"))
    assert poster.read_bytes().startswith(PNG_MAGIC)

    # --- signed URLs: the right content type; a tampered or missing signature refused ------
    url = result["saved"][0]["url"]
    async with httpx.AsyncClient(timeout=10) as http:
        ok = await http.get(url)
        assert ok.status_code == 200 and ok.headers["content-type"].startswith("image/png")
        sig = url.rsplit("signature=", 1)[1]
        forged = url.replace(sig, ("0" if sig[0] != "0" else "1") + sig[1:])
        assert (await http.get(forged)).status_code == 403
        other = url.replace("/0.png", "/1.png")  # a signature is valid for its own key only
        assert (await http.get(other)).status_code == 403
        assert (await http.get(url.split("?")[0])).status_code in (403, 422)

    # --- errors: readable, non-zero ------------------------------------------------------
    bad = await sorami(system, "dana", "generate", "image", "x", "--width", "65")
    assert bad.returncode == 1 and "HTTP 422" in bad.stderr and "width" in bad.stderr
    # a model no generator serves: the job waits in the scheduler's queue and says why
    ghost = await sorami(
        system,
        "dana",
        "generate",
        "image",
        "x",
        "--width",
        "64",
        "--height",
        "64",
        "--model",
        "ghost-image",
        "--json",
    )
    assert ghost.returncode == 0, ghost.stderr
    ghost_id = json.loads(ghost.stdout)["job_id"]
    # why it waits is known at release; its place once the scheduler next recomputes positions
    for _ in range(100):
        waiting = json.loads((await sorami(system, "dana", "status", ghost_id)).stdout)
        if waiting.get("waiting_for") and waiting.get("queue_position"):
            break
        await asyncio.sleep(0.2)
    assert waiting["status"] == "PENDING" and waiting["waiting_for"] == "worker", waiting
    assert waiting["queue_position"] == 1
    assert (await sorami(system, "dana", "cancel", ghost_id)).returncode == 0
    refused = await sorami(system, None, "token", "dana")
    assert refused.returncode == 2 and "refused outside development" in refused.stderr

    # --- status, history, notifications through the CLI ----------------------------------
    status = await sorami(system, "dana", "status", result["job_id"], "--kind", "image")
    assert status.returncode == 0 and json.loads(status.stdout)["status"] == "COMPLETED"
    assert (
        await sorami(system, "erin", "status", result["job_id"], "--kind", "image")
    ).returncode == 1  # another user's job: 404
    history = await sorami(system, "dana", "history", "image", "--json")
    statuses = {i["status"] for i in json.loads(history.stdout)["items"]}
    assert statuses == {"COMPLETED", "CANCELLED"}

    for _ in range(100):
        notes = await sorami(system, "dana", "notifications", "--json")
        page = json.loads(notes.stdout)
        if len(page["items"]) >= 2:
            break
        await asyncio.sleep(0.2)
    titles = sorted(n["title"] for n in page["items"])
    assert titles == ["Your image is ready", "Your video is ready"]
    assert page["unread_count"] == 2
    one = await sorami(system, "dana", "notifications", "--read", page["items"][0]["id"])
    assert one.returncode == 0 and json.loads(one.stdout)["read_at"]
    count = await sorami(system, "dana", "notifications", "--unread-count")
    assert count.stdout.strip() == "1"
    everything = await sorami(system, "dana", "notifications", "--read-all")
    assert json.loads(everything.stdout) == {"marked": 1, "unread_count": 0}

    # --- a job id is enough; a wrong --kind is named, not "not found" (issue 11) ---------
    video_id = re.search(r"video (\S+) COMPLETED", video.stdout).group(1)
    found = await sorami(system, "dana", "status", video_id)
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["kind"] == "video"
    got = await sorami(system, "dana", "result", result["job_id"])
    assert got.returncode == 0 and len(json.loads(got.stdout)["files"]) == 2
    wrong = await sorami(system, "dana", "result", video_id, "--kind", "image")
    assert wrong.returncode == 2 and f"job {video_id} is a video, not an image" in wrong.stderr
    nobody = await sorami(system, "erin", "status", video_id)  # another user's: no kind knows it
    assert nobody.returncode == 1 and "HTTP 404" in nobody.stderr
    finished = await sorami(system, "dana", "cancel", video_id)  # found; COMPLETED answers 409
    assert finished.returncode == 1 and "HTTP 409" in finished.stderr
    kept = await sorami(system, "dana", "delete", video_id, "--kind", "image")
    assert kept.returncode == 2 and "is a video, not an image" in kept.stderr
    assert (await sorami(system, "dana", "status", video_id)).returncode == 0  # not deleted
    deleted = await sorami(system, "dana", "delete", video_id)
    assert deleted.returncode == 0 and f"video {video_id} deleted" in deleted.stderr
