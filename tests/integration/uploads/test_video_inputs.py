"""Image-to-video requests (the built-in ``tiny-i2v``, LTX-Video): ``image`` on
``/api/videos/generate`` and OpenAI's ``input_reference`` on ``/v1/videos`` (a multipart file
stored as an upload, or an upload id) carry the first frame in the event; what is refused is
an OpenAI-shaped 400 naming ``input_reference``."""

from __future__ import annotations

import uuid

from tests.integration.gateway.conftest import auth, running_client
from tests.integration.uploads.test_inputs import requested, upload
from tests.support import images

I2V = {"video_models": ["tiny-i2v", "tiny-video"]}


def openai_refused(response, words: str) -> None:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == "input_reference" and words in error["message"], error


async def test_image_to_video_on_api_and_v1(make_settings, engine):
    async with running_client(make_settings(**I2V)) as client:
        first = await upload(client, images.png(80, 48))
        api = await client.post(
            "/api/videos/generate",
            json={"prompt": "waves", "model": "tiny-i2v", "image": first["upload_id"]},
            headers=auth(),
        )
        assert api.status_code == 202, api.text
        (frame,) = (await requested(engine, api.json()["job_id"]))["inputs"]
        assert (frame["role"], frame["sha256"], frame["width"]) == ("image", first["sha256"], 80)

        # OpenAI's videos.create: input_reference as a multipart file → an upload of the user
        sent = await client.post(
            "/v1/videos",
            data={"prompt": "waves", "model": "tiny-i2v", "seconds": "1"},
            files={"input_reference": ("f.png", images.png(40, 40))},
            headers=auth(),
        )
        assert sent.status_code == 200, sent.text
        (frame,) = (await requested(engine, sent.json()["id"].removeprefix("video_")))["inputs"]
        listed = (await client.get("/api/uploads", headers=auth())).json()
        ids = [u["upload_id"] for u in listed["items"]]
        assert frame["key"].split("/")[1] in ids and frame["width"] == 40
        # ... or an upload id (JSON)
        by_id = await client.post(
            "/v1/videos",
            json={"prompt": "w", "model": "tiny-i2v", "input_reference": first["upload_id"]},
            headers=auth(),
        )
        assert by_id.status_code == 200, by_id.text

        async def v1(user: str = "alice", **fields):
            return await client.post(
                "/v1/videos",
                json={"prompt": "w", "model": "tiny-i2v", **fields},
                headers=auth(user),
            )

        openai_refused(await v1(input_reference=str(uuid.uuid4())), "no such upload")
        openai_refused(await v1("bob", input_reference=first["upload_id"]), "no such upload")
        openai_refused(await v1(input_reference={"image_url": "x"}), "image file")
        tiny_video = await v1(model="tiny-video", input_reference=first["upload_id"])
        openai_refused(tiny_video, "takes no input image")
        hostile = await client.post(
            "/v1/videos",
            data={"prompt": "w", "model": "tiny-i2v"},
            files={"input_reference": ("a.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>")},
            headers=auth(),
        )
        assert hostile.status_code == 400 and hostile.json()["error"]["param"] == "input_reference"


async def test_the_official_sdk_sends_input_reference(make_settings, engine):
    from tests.integration.openai_compat.conftest import openai_app

    async with openai_app(make_settings(**I2V)) as make:
        video = await make().videos.create(
            prompt="waves",
            model="tiny-i2v",
            input_reference=("first.png", images.png(48, 48), "image/png"),
        )
    (frame,) = (await requested(engine, video.id.removeprefix("video_")))["inputs"]
    assert (frame["role"], frame["width"], frame["height"]) == ("image", 48, 48)
