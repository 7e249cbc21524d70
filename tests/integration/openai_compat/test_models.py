"""``client.models.list()`` / ``retrieve()`` with the real ``openai`` SDK: OpenAI's shape,
the same models as ``GET /api/models``, an unknown model 404 in OpenAI's error shape."""

from __future__ import annotations

import openai
import pytest

from tests.integration.gateway.conftest import auth, client  # noqa: F401 - fixture


async def test_models_list_and_retrieve_with_the_sdk(sdk) -> None:
    openai_client = sdk()
    page = await openai_client.models.list()
    ids = [m.id for m in page.data]
    assert ids == ["tiny-image", "tiny-video"]
    for model in page.data:
        assert model.object == "model" and model.owned_by == "sorami"
        assert isinstance(model.created, int) and model.created > 1_600_000_000
    one = await openai_client.models.retrieve("tiny-video")
    assert one.id == "tiny-video"
    with pytest.raises(openai.NotFoundError) as missing:
        await openai_client.models.retrieve("dall-e-3")
    assert "dall-e-3" in missing.value.message
    with pytest.raises(openai.AuthenticationError):
        await sdk(api_key="wrong").models.list()


async def test_models_raw_shape_matches_api_models(client) -> None:  # noqa: F811
    raw = (await client.get("/v1/models", headers=auth())).json()
    assert raw["object"] == "list"
    assert set(raw["data"][0]) == {"id", "object", "created", "owned_by"}
    api = (await client.get("/api/models", headers=auth())).json()["items"]
    assert [m["id"] for m in raw["data"]] == [m["name"] for m in api]
