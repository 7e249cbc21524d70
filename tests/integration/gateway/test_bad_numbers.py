"""Issue 11: NaN, Infinity and 1e999 (and huge inputs) are refused with a 422 naming the field,
never a 500 from rendering the error, on /api; /v1 answers its OpenAI-shaped 400."""

from __future__ import annotations

import json

import pytest

from .conftest import SMALL_IMAGE, SMALL_VIDEO, auth, scalar

NON_FINITE = ["NaN", "Infinity", "-Infinity", "1e999", "-1e999"]
HEADERS = {**auth(), "Content-Type": "application/json"}


def _body(base: dict, field: str, literal: str) -> str:
    """A JSON body with ``field`` set to a literal that json.dumps would not write."""
    rest = json.dumps({k: v for k, v in base.items() if k != field})
    return f'{rest[:-1]}, "{field}": {literal}}}'


@pytest.mark.parametrize("literal", NON_FINITE)
@pytest.mark.parametrize(
    ("kind", "base", "field"),
    [
        ("images", SMALL_IMAGE, "guidance_scale"),
        ("videos", SMALL_VIDEO, "fps"),
        ("videos", SMALL_VIDEO, "guidance_scale"),
        ("images", SMALL_IMAGE, "width"),
    ],
)
async def test_non_finite_numbers_are_422_naming_the_field(client, kind, base, field, literal):
    response = await client.post(
        f"/api/{kind}/generate", content=_body(base, field, literal), headers=HEADERS
    )
    assert response.status_code == 422, response.text
    assert [e["loc"] for e in response.json()["detail"]] == [["body", field]]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "1e999"])
async def test_v1_refuses_non_finite_numbers_in_openai_shape(client, literal):
    body = f'{{"prompt": "x", "size": "64x64", "guidance_scale": {literal}}}'
    response = await client.post("/v1/images/generations", content=body, headers=HEADERS)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "guidance_scale"
    body = f'{{"prompt": "x", "seconds": {literal}}}'
    response = await client.post("/v1/videos", content=body, headers=HEADERS)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "seconds"


async def test_a_422_echoes_a_bounded_prefix_of_a_huge_input(client):
    prompt = "y" * 10_000  # over PROMPT_MAX_CHARS (2000)
    response = await client.post(
        "/api/images/generate", json={**SMALL_IMAGE, "prompt": prompt}, headers=auth()
    )
    assert response.status_code == 422
    error = response.json()["detail"][0]
    assert error["loc"] == ["body", "prompt"]
    assert error["input"].startswith("y" * 200) and len(error["input"]) <= 201
    assert len(response.content) < 1000
    unknown = await client.post(
        "/api/images/generate", json={**SMALL_IMAGE, "z" * 5000: prompt}, headers=auth()
    )
    assert unknown.status_code == 422 and len(unknown.content) < 1500


NOT_JSON = [
    ("/api/images/generate", '{"prompt": "a fox"}'),
    ("/api/dev/token", '{"user": "alice"}'),  # a route FastAPI parses itself
    ("/v1/images/generations", '{"prompt": "a fox"}'),
]


async def test_a_body_that_is_not_declared_json_is_refused_naming_its_type(client, engine) -> None:
    """JSON sent as text/plain (or curl -d's default form type) is refused, naming the type:
    415 on /api, OpenAI's 400 on /v1; nothing is created. JSON types are read as JSON."""
    for path, body in NOT_JSON:
        for content_type in ("text/plain", "application/x-www-form-urlencoded"):
            headers = {**auth(), "Content-Type": f"{content_type}; charset=utf-8"}
            answer = await client.post(path, content=body, headers=headers)
            expected = 400 if path.startswith("/v1") else 415
            assert answer.status_code == expected, (path, content_type, answer.text)
            assert content_type in answer.text, answer.text
    assert await scalar(engine, "SELECT count(*) FROM generations") == 0
    for ok_type in ("application/json", "application/json; charset=utf-8", None):
        extra = {"Content-Type": ok_type} if ok_type else {}
        accepted = await client.post(
            "/api/images/generate", content=NOT_JSON[0][1], headers={**auth(), **extra}
        )
        assert accepted.status_code == 202, (ok_type, accepted.text)
