"""What the web app needs from the gateway: the development sign-in (refused outside
development like ``sorami token``), the combined history, the models listing, and the app
itself served at ``/`` with the API still under ``/api``."""

from __future__ import annotations

import re

import pytest

from .conftest import SMALL_IMAGE, SMALL_VIDEO, auth, running_client


async def test_dev_token_signs_in_only_in_development(make_settings) -> None:
    async with running_client(make_settings(environment="development")) as client:
        answer = await client.post("/api/dev/token", json={"user": "alice"})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["token_type"] == "bearer" and body["expires_in"] > 0
        headers = {"Authorization": f"Bearer {body['access_token']}"}
        created = await client.post("/api/images/generate", json=SMALL_IMAGE, headers=headers)
        assert created.status_code == 202
        mine = await client.get("/api/generations", headers=auth("alice"))
        assert [i["job_id"] for i in mine.json()["items"]] == [created.json()["job_id"]]
        for bad in ({}, {"user": ""}, {"user": "a\x00b"}, {"user": "x" * 256}):
            refused = await client.post("/api/dev/token", json=bad)
            assert refused.status_code == 422, bad
            assert refused.json()["detail"][0]["loc"][:2] == ["body", "user"]
    async with running_client(make_settings(environment="test")) as client:
        refused = await client.post("/api/dev/token", json={"user": "alice"})
        assert refused.status_code == 403
        assert "refused outside development" in refused.json()["detail"]
        assert "access_token" not in refused.text


async def test_combined_history_pages_both_kinds_newest_first(client) -> None:
    created = []
    for body, kind in [(SMALL_IMAGE, "images"), (SMALL_VIDEO, "videos")] * 3:
        r = await client.post(f"/api/{kind}/generate", json=body, headers=auth("alice"))
        created.append((r.json()["job_id"], kind[:-1]))
    await client.post("/api/images/generate", json=SMALL_IMAGE, headers=auth("bob"))
    seen, cursor = [], None
    while True:
        params = {"limit": 4, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/generations", params=params, headers=auth())).json()
        seen += [(i["job_id"], i["kind"]) for i in page["items"]]
        assert len(page["items"]) <= 4
        if not (cursor := page["next_cursor"]):
            break
    assert seen == created[::-1]
    videos = await client.get("/api/generations?kind=video", headers=auth())
    newest_videos = [job for job, kind in created[::-1] if kind == "video"]
    assert [i["job_id"] for i in videos.json()["items"]] == newest_videos
    per_kind = await client.get("/api/videos/user", headers=auth())
    assert videos.json() == per_kind.json()  # same item shape
    for query, field in [("kind=gif", "kind"), ("cursor=nope", "cursor"), ("limit=0", "limit")]:
        bad = await client.get(f"/api/generations?{query}", headers=auth())
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", field]
    assert (await client.get("/api/generations")).status_code == 401


async def test_models_lists_each_kind_with_defaults_and_limits(make_settings) -> None:
    sd_turbo = {"source": "stabilityai/sd-turbo", "kind": "image", "max_guidance_scale": 0.0}
    settings = make_settings(models={"sd-turbo": sd_turbo}, image_models=["tiny-image", "sd-turbo"])
    async with running_client(settings) as client:
        assert (await client.get("/api/models")).status_code == 401
        items = (await client.get("/api/models", headers=auth())).json()["items"]
    by_name = {m["name"]: m for m in items}
    assert set(by_name) == {"tiny-image", "sd-turbo", "tiny-video"}
    assert by_name["tiny-image"]["default"] and not by_name["sd-turbo"]["default"]
    image, video = by_name["tiny-image"], by_name["tiny-video"]
    assert image["kind"] == "image" and video["kind"] == "video"
    assert {"width", "height", "num_inference_steps", "guidance_scale", "num_images"} == set(
        image["defaults"]
    )
    assert {"num_frames", "fps"} <= set(video["defaults"])
    assert image["limits"]["max_frames"] is None and video["limits"]["max_frames"] > 0
    assert image["limits"]["size_multiple"] == settings.image_limits.size_multiple


async def test_the_web_app_is_served_at_the_root_beside_the_api(client) -> None:
    page = await client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/js/main.js">' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    module = await client.get("/js/main.js")
    assert module.status_code == 200
    assert "javascript" in module.headers["content-type"]
    assert module.headers["cache-control"] == "no-cache"
    missing = await client.get("/api/no-such-route")
    assert missing.status_code == 404 and missing.json() == {"detail": "Not Found"}
    assert (await client.get("/openapi.json")).status_code == 200


@pytest.mark.parametrize("override", [{"serve_web": False}, {"web_dir": "/nonexistent"}])
async def test_an_api_only_gateway_serves_no_app(make_settings, override) -> None:
    async with running_client(make_settings(**override)) as client:
        assert (await client.get("/")).status_code == 404
        assert (await client.get("/healthz")).status_code == 200


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_api_docs_load_their_assets_from_the_gateway(client, page) -> None:
    """/docs (Swagger UI) and /redoc work offline: every script and stylesheet they load is
    served by the gateway itself, none comes from a CDN."""
    html = await client.get(page)
    assert html.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', html.text)
    assert assets, html.text
    assert "://" not in html.text.replace("http://www.w3.org", ""), "an absolute URL in the page"
    for url in assets:
        asset = await client.get(url)
        assert asset.status_code == 200, url
        kind = "css" if url.endswith(".css") else "javascript"
        assert kind in asset.headers["content-type"], url
        assert len(asset.content) > 10_000, url
    if page == "/docs":
        assert any("swagger-ui-bundle" in url for url in assets)
