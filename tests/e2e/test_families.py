"""Every model family through the whole system (real gateway, relay, projector, generator and
notifier processes), on tiny random-weight builds, ONE system for all families, their jobs
running concurrently (one user per family):

- refusals before anything is stored: a size off the family's multiple, a frame count not of
  its form (the nearest valid counts in the message), a negative prompt the request cannot
  use (classic CFG with guidance <= 1; a model without negatives), guidance on a
  guidance-free model: 422 naming the field;
- a burst of 4 with different prompts and seeds is one pipeline call (one batch id), each job's
  progress only rises, and the same job alone gives the same pixels (<= 2/255, PNG; videos
  their PNG poster, the first frame) as in the burst and beside jobs with negative prompts;
- guidance > 1 (the defaults) and a negative prompt complete; videos have the frames asked;
- a long job of each family cancelled mid-step ends CANCELLED before its last step.
"""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sorami_shared.model_registry import BUILTIN_MODELS

from tests.e2e.system import System, wait_terminal
from tests.support import tiny_families
from tests.support.sse import sse_stream

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

IMAGES = [
    "tiny-image",
    *(f"tiny-{n}" for n in tiny_families.BUILDERS if n not in tiny_families.VIDEO),
]
VIDEOS = ["tiny-video", *(f"tiny-{n}" for n in tiny_families.VIDEO)]
BAD_FRAMES = {"tiny-wan": 8, "tiny-ltx": 8, "tiny-cogvideox": 10, "tiny-hunyuanvideo": 6}
PROMPTS = [("a red fox in the snow", 11), ("a ship", 2), ("night city, rain", 3), ("moss", 4)]
LONG_STEPS = 400  # cancelled after its first step: it must still be running by then


def kind_of(model: str) -> str:
    return "video" if model in VIDEOS else "image"


def body(model: str, prompt: str, seed: int, **extra: Any) -> dict[str, Any]:
    b: dict[str, Any] = {"prompt": prompt, "model": model, "seed": seed, "width": 32, "height": 32}
    if model == "tiny-video":
        b["num_frames"] = 4
    return {**b, **extra}


def lines(system: System, message: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for p in system.procs:
        if p.name.startswith("generator"):
            for line in p.log_path.read_text(errors="replace").splitlines():
                if f'"{message}"' in line:
                    record = json.loads(line)
                    out[record.get("job_id", "")] = record
    return out


async def until(check: Any, within_s: float) -> Any:
    for _ in range(int(within_s / 0.1)):
        if result := check():
            return result
        await asyncio.sleep(0.1)
    raise AssertionError(f"not within {within_s}s")


def pixels(media: Path, kind: str, job: str) -> np.ndarray:
    from PIL import Image

    data = (media / kind / job / "0.png").read_bytes()  # an image, or a video's first frame
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int16)


async def submit(http: httpx.AsyncClient, model: str, b: dict[str, Any]) -> str:
    r = await http.post(f"/api/{kind_of(model)}s/generate", json=b)
    assert r.status_code == 202, r.text
    return r.json()["job_id"]


async def refused(http: httpx.AsyncClient, model: str, b: dict[str, Any], field: str) -> str:
    r = await http.post(f"/api/{kind_of(model)}s/generate", json=b)
    assert r.status_code == 422, (model, b, r.text)
    detail = r.json()["detail"]
    assert any(d["loc"][-1] == field for d in detail), (field, detail)
    return json.dumps(detail)


async def refusals(system: System) -> None:
    async with system.client("refusals") as http:
        r = await http.get("/api/models")
        rules = {m["name"]: m["rules"] for m in r.json()["items"]}
        assert rules["tiny-ltx"]["frame_rule"] == "8k+1" and rules["tiny-flux"]["family"] == "flux"
        for model in IMAGES + VIDEOS:
            m = rules[model]["size_multiple"]
            await refused(http, model, body(model, "x", 1, width=32 + m // 2), "width")
            if rules[model]["negative_prompt"] == "cfg" or rules[model]["guidance"] == "true_cfg":
                b = body(model, "x", 1, negative_prompt="blurry", guidance_scale=1.0)
                assert "guidance_scale > 1" in await refused(http, model, b, "negative_prompt")
        for model, frames in BAD_FRAMES.items():
            why = await refused(http, model, body(model, "x", 1, num_frames=frames), "num_frames")
            assert "nearest" in why, why
        assert "(nearest: 1 or 9)" in await refused(
            http, "tiny-ltx", body("tiny-ltx", "x", 1, num_frames=8), "num_frames"
        )
        b = body("tiny-flux-schnell", "x", 1, negative_prompt="blurry")
        await refused(http, "tiny-flux-schnell", b, "negative_prompt")
        b = body("tiny-flux-schnell", "x", 1, guidance_scale=3.5)
        await refused(http, "tiny-flux-schnell", b, "guidance_scale")
        r = await http.get("/api/generations", params={"limit": 5})
        assert r.status_code == 200 and r.json()["items"] == []  # nothing was stored


def step_seen(stream: Any, job: str) -> bool:
    return any((f.data.get("step") or 0) >= 1 for f in stream.for_job(job))


async def family(system: System, model: str, started: asyncio.Event) -> dict[str, Any]:
    kind = kind_of(model)
    media = Path(system.storage_env["STORAGE_LOCAL_DIR"])
    user = f"user-{model}"
    async with (
        system.client(user) as http,
        sse_stream(system.base_url, token=system.token(user)) as stream,
    ):
        burst = await asyncio.gather(*(submit(http, model, body(model, p, s)) for p, s in PROMPTS))
        await until(lambda: all(j in lines(system, "job started") for j in burst), 120)
        started.set()
        results = [await wait_terminal(http, kind, j, within_s=300, interval=0.2) for j in burst]
        assert all(r["status"] == "COMPLETED" for r, _ in results), (model, results)
        done = lines(system, "job completed")
        assert len({done[j]["batch_id"] for j in burst}) == 1, f"{model}: a burst is one call"
        for j in burst:
            progress = [f.data["progress"] for f in stream.for_job(j) if "progress" in f.data]
            # only rises; the last progress frames may be folded into the terminal one (the
            # projector drops progress a later event of the same batch supersedes)
            assert progress and progress == sorted(progress), (model, progress)
        alone = await submit(http, model, body(model, *PROMPTS[0]))
        neg = body(model, "a ship", 5, negative_prompt="blurry, dark")
        mixed = await asyncio.gather(
            submit(http, model, neg), submit(http, model, body(model, *PROMPTS[0]))
        )
        for j in (alone, *mixed):
            status, _ = await wait_terminal(http, kind, j, within_s=300, interval=0.2)
            assert status["status"] == "COMPLETED", status
        first = pixels(media, kind, burst[0])
        worst = max(int(np.abs(pixels(media, kind, j) - first).max()) for j in (alone, mixed[1]))
        assert worst <= 2, f"{model}: the same job differs by {worst}/255"
        r = await http.get(f"/api/{kind}s/{burst[0]}/result")
        if kind == "video":
            asked = body(model, "x", 1).get("num_frames") or tiny_families.VIDEO[model[5:]]
            assert r.json()["files"][0]["frame_count"] == asked
        # cancel mid-step
        long = await submit(
            http,
            model,
            body(model, "a long fox", 9, num_inference_steps=LONG_STEPS, width=64, height=64),
        )
        await stream.wait_for(lambda s: step_seen(s, long), 300)
        r = await http.post(f"/api/{kind}s/{long}/cancel")
        assert r.status_code == 202 and r.json()["status"] == "CANCELLED", r.text
        record = await until(lambda: lines(system, "job cancelled").get(long), 120)
        assert record["stopped_after_step"] < LONG_STEPS, (model, record)
        return {"model": model, "diff": worst, "batch": done[burst[0]]["batch_size"],
                "stopped_after": record["stopped_after_step"]}  # fmt: skip


async def test_every_family_through_the_whole_system(make_system) -> None:
    entries = tiny_families.model_entries()
    for name in ("tiny-image", "tiny-video"):  # the built-ins, with more steps allowed
        entries[name] = BUILTIN_MODELS[name].model_dump(mode="json", exclude_defaults=True)
    for entry in entries.values():
        entry["max_steps"] = LONG_STEPS
    flux = entries["tiny-flux"]
    schnell = {**flux, "guidance": "none", "negative_prompt": "none"}  # gateway-only
    system: System = await make_system(
        models=entries,
        gateway_models={"tiny-flux-schnell": schnell},
        image_models=[*IMAGES, "tiny-flux-schnell"],
        video_models=VIDEOS,
        generator_overrides={
            "MAX_CACHED_PIPELINES": "16",
            "MAX_BATCH_IMAGES": "128",
            "PREFETCH": "96",
        },
        gateway_overrides={
            "IMAGE_LIMITS": '{"max_steps": 400}',
            "VIDEO_LIMITS": '{"max_steps": 400}',
        },
        start_within_s=240,
    )
    await refusals(system)
    # a long job holds the device until every family's burst is in the generator's queue, so
    # each burst is one call; then it is cancelled mid-step
    async with (
        system.client("blocker") as http,
        sse_stream(system.base_url, token=system.token("blocker")) as stream,
    ):
        b = body("tiny-image", "wait", 1, num_inference_steps=LONG_STEPS, width=64, height=64)
        blocker = await submit(http, "tiny-image", b)
        await stream.wait_for(lambda s: step_seen(s, blocker), 120)
        started = {m: asyncio.Event() for m in IMAGES + VIDEOS}
        tasks = [asyncio.create_task(family(system, m, e)) for m, e in started.items()]
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in started.values())), 180)
        r = await http.post(f"/api/images/{blocker}/cancel")
        assert r.status_code == 202, r.text
        report = await asyncio.gather(*tasks)
    for row in report:
        print(f"[e2e families] {row}")
