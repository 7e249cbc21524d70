"""The API's contract, judged by outside tools as a new user would meet it, on a running system:
the live ``/openapi.json`` passes ``openapi-spec-validator`` with 0 errors, and a client generated
from it by ``openapi-python-client`` (no warning while generating, none while running) creates an
image job with null optional fields (the model's defaults), reads its status and its result,
fetches the PNG, and downloads a video's MP4 and poster through ``GET /v1/videos/{id}/content``.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator

from tests.e2e.system import BIN, PNG_MAGIC, System, is_mp4

pytestmark = pytest.mark.e2e


def generate_client(document: dict[str, Any], where: Path) -> tuple[str, Any]:
    """(generator output, the imported package) of openapi-python-client on ``document``."""
    path = where / "openapi.json"
    path.write_text(json.dumps(document))
    result = subprocess.run(
        [
            str(BIN / "openapi-python-client"),
            "generate",
            "--path",
            str(path),
            "--meta",
            "none",
            "--output-path",
            str(where / "sorami_client"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"},  # its ruff
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    sys.path.insert(0, str(where))
    try:
        return output, importlib.import_module("sorami_client")
    finally:
        sys.path.remove(str(where))


def module(package: Any, name: str) -> Any:
    return importlib.import_module(f"{package.__name__}.{name}")


async def wait_completed(package: Any, client: Any, kind: Any, job_id: Any) -> Any:
    status_api = module(package, "api.generations.generation_status_api_kind_job_id_status_get")
    status_model = module(package, "models.generation_status_public").GenerationStatusPublic
    deadline = time.monotonic() + 120
    while True:
        status = await status_api.asyncio(kind=kind, job_id=job_id, client=client)
        assert isinstance(status, status_model), status
        if status.status.value in ("COMPLETED", "FAILED", "CANCELLED"):
            assert status.status.value == "COMPLETED", status
            return status
        assert time.monotonic() < deadline, status
        await asyncio.sleep(0.2)


async def test_live_openapi_passes_the_validator_and_a_generated_client_runs_jobs(
    make_system, tmp_path: Path
) -> None:
    system: System = await make_system()
    async with httpx.AsyncClient(timeout=30) as http:
        document = (await http.get(f"{system.base_url}/openapi.json")).json()
    errors = [e.message for e in OpenAPIV31SpecValidator(document).iter_errors()]
    print(f"[contracts] openapi-spec-validator on the live /openapi.json: {len(errors)} errors")
    assert errors == []

    output, package = await asyncio.to_thread(generate_client, document, tmp_path)
    print(f"[contracts] openapi-python-client: {output.strip()!r}")
    assert "warning" not in output.lower(), output
    assert "not in path" not in output.lower(), output

    client_mod = module(package, "client")
    generate = module(package, "api.generations.generate_api_kind_generate_post")
    result_api = module(package, "api.generations.generation_result_api_kind_job_id_result_get")
    content_api = module(
        package, "api.openai.download_video_content_v1_videos_video_id_content_get"
    )
    models = module(package, "models")
    kind_path = models.KindPath
    client = client_mod.AuthenticatedClient(
        base_url=system.base_url, token=system.token("contract-ann"), timeout=httpx.Timeout(30)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing the generated code does may warn
        async with client:
            body = models.ImageGenerateRequest(
                prompt="a fox",
                width=64,
                height=64,
                num_inference_steps=2,
                guidance_scale=None,
                seed=None,
                num_images=None,  # null: the model's default
            )
            accepted = await generate.asyncio(kind=kind_path.IMAGES, client=client, body=body)
            assert isinstance(accepted, models.GenerateAccepted), accepted
            await wait_completed(package, client, kind_path.IMAGES, accepted.job_id)
            result = await result_api.asyncio(
                kind=kind_path.IMAGES, job_id=accepted.job_id, client=client
            )
            assert isinstance(result, models.GenerationResultPublic), result
            assert result.params.additional_properties["guidance_scale"] is not None
            [file] = result.files
            assert (file.width, file.height, file.mime_type) == (64, 64, "image/png")

            video = await generate.asyncio(
                kind=kind_path.VIDEOS,
                client=client,
                body=models.VideoGenerateRequest(
                    prompt="waves",
                    width=64,
                    height=64,
                    num_inference_steps=2,
                    num_frames=4,
                    fps=None,
                ),
            )
            assert isinstance(video, models.GenerateAccepted), video
            await wait_completed(package, client, kind_path.VIDEOS, video.job_id)
            variant = models.DownloadVideoContentV1VideosVideoIdContentGetVariant
            mp4 = await content_api.asyncio_detailed(
                video_id=str(video.job_id), client=client, variant=variant.VIDEO
            )
            poster = await content_api.asyncio_detailed(
                video_id=str(video.job_id), client=client, variant=variant.THUMBNAIL
            )
    async with httpx.AsyncClient(timeout=30) as http:
        png = (await http.get(file.url)).content
    assert png.startswith(PNG_MAGIC)
    assert mp4.status_code == 200 and is_mp4(mp4.parsed.payload.read())
    assert poster.status_code == 200 and poster.parsed.payload.read().startswith(PNG_MAGIC)
    print(
        "[contracts] generated client: image job created, status, result, PNG; video MP4 and poster"
    )
