"""What the isolation matrix (test_isolation_matrix.py) needs to know about routes.

The matrix walks EVERY route of the gateway app as built at test time. Most routes need no
entry here: a route under authentication whose path parameters are all in ``PATH_PARAMS`` is
classified automatically (owner 2xx, another user 404 exactly like a missing id, anonymous
401). Register a route here only when it is

- public (no bearer token by design): add it to ``PUBLIC`` with the reason;
- a create or action that needs a JSON body: add a body builder to ``BODIES``; a multipart
  one (a file): to ``FILES``;
- answered to its owner with something other than 2xx in this test: ``OWNER_STATUS``;
- using a path parameter the matrix does not know: teach ``PATH_PARAMS`` what it means.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.integration.gateway.conftest import SMALL_IMAGE, SMALL_VIDEO
from tests.support.images import png

Route = tuple[str, str]  # (METHOD, path template as FastAPI spells it)

PUBLIC: dict[Route, str] = {
    ("GET", "/healthz"): "liveness probe",
    ("GET", "/readyz"): "readiness probe",
    ("GET", "/openapi.json"): "the API's own description",
    ("GET", "/docs"): "Swagger UI",
    ("GET", "/docs/oauth2-redirect"): "Swagger UI",
    ("GET", "/redoc"): "ReDoc",
    ("GET", "/docs-assets"): "Swagger UI and ReDoc scripts and styles (static files, offline)",
    ("GET", "/media/{key:path}"): "the signature is the capability (checked in its own test)",
    ("GET", "/"): "the web app: static files, nobody's data",
    ("POST", "/api/dev/token"): "development sign-in (403 outside development): no one's data",
    # /v1's catch-all answers 404 in OpenAI's shape to any unknown path, token or not
    ("GET", "/v1/{path:path}"): "unknown /v1 endpoint: 404",
    ("POST", "/v1/{path:path}"): "unknown /v1 endpoint: 404",
    ("PUT", "/v1/{path:path}"): "unknown /v1 endpoint: 404",
    ("PATCH", "/v1/{path:path}"): "unknown /v1 endpoint: 404",
    ("DELETE", "/v1/{path:path}"): "unknown /v1 endpoint: 404",
}

# Path parameter → which of the owner's resources fills it ("job": the owner's job of the
# route's kind; "video": the owner's video job; "notification": a notification of theirs).
PATH_PARAMS: dict[str, str] = {
    "job_id": "job",
    "id": "job",
    "generation_id": "job",
    "video_id": "video",
    "image_id": "image",
    "notification_id": "notification",
    "endpoint_id": "endpoint",  # one of the owner's webhook endpoints
    "model": "catalog",  # a model name: the same catalog for every signed-in user
    "batch_id": "batch",  # a fresh batch of the owner's (POST /api/batches)
    "upload_id": "upload",  # one of the owner's uploaded images
}

KINDS = ("images", "videos")


def _generate(kind: str | None) -> dict[str, Any]:
    return dict(SMALL_VIDEO if kind == "videos" else SMALL_IMAGE)


BODIES: dict[Route, Callable[[str | None], dict[str, Any]]] = {
    ("POST", "/api/{kind}/generate"): _generate,
    ("POST", "/v1/images/generations"): lambda _: {
        "prompt": "matrix probe",
        "size": "64x64",
        "n": 1,
    },
    ("POST", "/v1/videos"): lambda _: {"prompt": "matrix probe", "size": "64x64", "seconds": 1},
    ("POST", "/api/batches"): lambda _: {"kind": "image", "requests": [dict(SMALL_IMAGE)]},
    ("POST", "/api/uploads/direct"): lambda _: {"bytes": 100},
    ("POST", "/api/webhooks/endpoints"): lambda _: {
        "url": "https://hooks.example.com/matrix",
        "events": ["completed"],
    },
}

# multipart bodies: route → the files to send (httpx's ``files=``)
FILES: dict[Route, Callable[[], dict[str, tuple[str, bytes, str]]]] = {
    ("POST", "/api/uploads"): lambda: {"file": ("probe.png", png(16, 16), "image/png")},
    ("POST", "/v1/images/edits"): lambda: {
        "image": ("probe.png", png(16, 16, mode="RGB"), "image/png"),
        "prompt": (None, b"matrix probe", "text/plain"),
        "size": (None, b"64x64", "text/plain"),
    },
}

# No generator runs in the matrix: a create that waits for its job times out (504).
OWNER_STATUS: dict[Route, set[int]] = {
    ("POST", "/v1/images/generations"): {504},
    ("POST", "/v1/images/edits"): {504},
    ("POST", "/api/uploads/direct"): {409},  # the matrix's storage is local
}
