"""Tenant isolation over EVERY route of the gateway, derived from the app at test time.

Each route is called as its owner (alice), as another user (mallory) and anonymously, with
its path parameters filled with alice's real ids. Expected: anonymous 401 (public routes
aside), mallory 404 on alice's resources, answered exactly like a missing id, and no byte of
alice's data (job ids, notification ids, prompt, file keys) in anything mallory or an
anonymous caller gets back; alice's resource unchanged by their attempts; alice 2xx. A route
the matrix cannot classify fails the test with how to register it (isolation_routes.py).
Also: a signed media URL edited to reach another object is 403.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
from pydantic import BaseModel
from sorami_gateway.app import create_app
from sorami_gateway.workers.projector import Projector
from sorami_shared.events import Kind, Outcome
from sorami_shared.messaging import Delivery
from sorami_shared.storage import make_storage
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from tests.integration.gateway import projection_events as ev
from tests.integration.gateway.conftest import auth

from . import isolation_routes as registry
from .live_server import Answer, fetch, serve

FIRST = Delivery(attempt=1, max_attempts=6, redelivered=False)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
MP4 = b"\x00\x00\x00\x18ftypisom" + b"\x00" * 32
PARAM = re.compile(r"{([^}:]+)(?::[^}]+)?}")
OWNER, INTRUDER = "alice", "mallory"
REGISTER = (
    "register it in tests/integration/security/isolation_routes.py "
    "(PUBLIC, BODIES, OWNER_STATUS or PATH_PARAMS; see its docstring)"
)


@dataclass
class Owned:
    """Alice's data: what must never reach anyone else."""

    jobs: dict[str, uuid.UUID] = field(default_factory=dict)  # "images"/"videos" → job id
    notifications: list[uuid.UUID] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    markers: list[str] = field(default_factory=list)
    every_job: list[uuid.UUID] = field(default_factory=list)
    uploads: list[str] = field(default_factory=list)

    def secrets(self) -> list[str]:
        return [
            *map(str, self.every_job),
            *self.uploads,
            *map(str, self.notifications),
            *self.keys,
            *self.markers,
        ]


class Matrix:
    def __init__(self, http: httpx.AsyncClient, sessions: Any, settings: Any) -> None:
        self.http = http
        self.projector = Projector(sessions)
        self.storage = make_storage(settings)
        self.owned = Owned()
        self.cells = 0
        self.instances: list[str] = []
        self.problems: list[str] = []

    async def new_job(self, kind: str, *, complete: bool, user: str = OWNER) -> uuid.UUID:
        marker = f"PROMPT-MARKER-{uuid.uuid4().hex}"
        body = {**registry.BODIES[("POST", "/api/{kind}/generate")](kind), "prompt": marker}
        response = await self.http.post(f"/api/{kind}/generate", json=body, headers=auth(user))
        assert response.status_code == 202, response.text
        job_id = uuid.UUID(response.json()["job_id"])
        if complete:
            k = Kind.IMAGE if kind == "images" else Kind.VIDEO
            files = ev.image_files(job_id, 1) if k == Kind.IMAGE else ev.video_files(job_id)
            for f in files:
                await self.storage.put(f.key, PNG if f.key.endswith(".png") else MP4, f.mime_type)
                if f.poster_key:
                    await self.storage.put(f.poster_key, PNG, "image/png")
            await self.projector.handle(ev.completed(job_id, user=user, kind=k, files=files), FIRST)
            notification = ev.notification(job_id, user=user, kind=k, outcome=Outcome.COMPLETED)
            await self.projector.handle(notification, FIRST)
            if user == OWNER:
                self.owned.notifications.append(notification.data.notification_id)
                self.owned.keys += [f.key for f in files] + [
                    f.poster_key for f in files if f.poster_key
                ]
        if user == OWNER:
            self.owned.every_job.append(job_id)
            self.owned.markers.append(marker)
        return job_id

    async def new_batch(self) -> str:
        body = registry.BODIES[("POST", "/api/batches")](None)
        created = await self.http.post("/api/batches", json=body, headers=auth(OWNER))
        assert created.status_code == 202, created.text
        self.owned.every_job += [uuid.UUID(j) for j in created.json()["job_ids"]]
        return str(created.json()["batch_id"])

    async def new_upload(self) -> str:
        files = registry.FILES[("POST", "/api/uploads")]()
        created = await self.http.post("/api/uploads", files=files, headers=auth(OWNER))
        assert created.status_code == 201, created.text
        self.owned.uploads.append(created.json()["upload_id"])
        return str(created.json()["upload_id"])

    async def new_endpoint(self) -> str:
        body = registry.BODIES[("POST", "/api/webhooks/endpoints")](None)
        created = await self.http.post("/api/webhooks/endpoints", json=body, headers=auth(OWNER))
        assert created.status_code == 201, created.text
        self.owned.markers.append(created.json()["secret"])
        return str(created.json()["id"])

    def fill(self, path: str, kind: str | None, ids: dict[str, str]) -> str:
        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            return kind if name == "kind" and kind else ids[name]

        return PARAM.sub(value, path)

    def leaks(self, who: str, route: str, answer: Answer, allowed: set[str]) -> None:
        seen = answer.text + "\n" + "\n".join(f"{k}: {v}" for k, v in answer.headers.items())
        for secret in self.owned.secrets():
            if secret not in allowed and secret in seen:
                self.problems.append(f"{route} as {who}: leaks {secret!r}: {answer.text[:300]}")

    def expect(self, route: str, who: str, answer: Answer, codes: set[int]) -> None:
        self.cells += 1
        if answer.status not in codes:
            self.problems.append(
                f"{route} as {who}: {answer.status}, expected {sorted(codes)}: {answer.text[:300]}"
            )


def unclassifiable(method: str, path: str, openapi: dict[str, Any]) -> str | None:
    """Why the matrix cannot call this authenticated route on its own (None: it can)."""
    params = [p for p in PARAM.findall(path) if p != "kind"]
    unknown = [p for p in params if p not in registry.PATH_PARAMS]
    operation = openapi.get("paths", {}).get(path, {}).get(method.lower(), {})
    needs_body = bool(operation.get("requestBody", {}).get("required"))
    required_query = [
        p["name"]
        for p in operation.get("parameters", [])
        if p.get("in") == "query" and p.get("required")
    ]
    has_body = (method, path) in registry.BODIES or (method, path) in registry.FILES
    if unknown or required_query or (needs_body and not has_body):
        return (
            f"{method} {path}: cannot classify (unknown path parameters {unknown}, required "
            f"query {required_query}, body needed: {needs_body}); {REGISTER}"
        )
    return None


def _routes(app: Any) -> list[tuple[str, str, bool]]:
    """(method, path, included in the OpenAPI schema) for every route, HEAD aside, routers
    included into routers flattened (FastAPI's own walk where it has one)."""
    from fastapi import routing

    walk = getattr(routing, "iter_route_contexts", None)
    contexts = list(walk(app.routes)) if walk else list(app.routes)
    found = []
    for route in contexts:
        methods = getattr(route, "methods", None)
        path = getattr(route, "path", None)
        inner = getattr(route, "route", route)
        if isinstance(inner, Mount) and isinstance(inner.app, StaticFiles):
            found.append(("GET", inner.path or "/", False))  # the web app's files
        elif methods and path:
            for method in sorted(methods):
                if method != "HEAD":
                    found.append((method, path, bool(getattr(route, "include_in_schema", True))))
        else:
            found.append(("?", str(path or route), False))
    return found


async def test_every_route_isolates_users(make_settings, sessions):
    settings = make_settings(
        rate_limit_generations=0, max_unfinished_jobs=0, openai_image_wait_s=0.3
    )
    app = create_app(settings)
    openapi = app.openapi()
    async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        m = Matrix(http, sessions, settings)
        for kind in registry.KINDS:
            m.owned.jobs[kind] = await m.new_job(kind, complete=True)
        await m.new_job("images", complete=False)  # one still pending, in the lists too
        await m.new_job("videos", complete=True, user=INTRUDER)  # mallory has data of her own
        # alice's webhook signing secrets are hers alone
        secret = await http.get("/api/webhooks/secret", headers=auth(OWNER))
        m.owned.markers.append(secret.json()["secret"])
        await m.new_endpoint()

        routes = _routes(app)
        # destructive routes last, so that every other route sees alice's data
        routes.sort(key=lambda r: r[0] == "DELETE")
        for method, path, in_schema in routes:
            route = f"{method} {path}"
            if (method, path) in registry.PUBLIC:
                anonymous = await fetch(
                    http,
                    method,
                    path.replace("{path:path}", "nope").replace("{key:path}", "image/x/0.png"),
                )
                m.cells += 1
                m.leaks("anonymous", route, anonymous, set())
                continue
            if method == "?":
                m.problems.append(f"{route}: not an HTTP route the matrix knows; {REGISTER}")
                continue
            params = [p for p in PARAM.findall(path) if p != "kind"]
            problem = unclassifiable(method, path, openapi)
            if problem:
                m.problems.append(problem)
                continue
            kinds: list[str | None] = list(registry.KINDS) if "{kind}" in path else [None]
            for kind in kinds:
                await _check(m, method, path, kind, params, in_schema)

        # signed media URLs: capability for one object only
        await _check_media(m, http)

    print(
        f"\n[isolation] matrix: {len(routes)} method x path routes "
        f"({len(m.instances)} authenticated route instances x owner/other/anonymous), "
        f"{m.cells} status assertions"
    )
    assert not m.problems, "\n".join(m.problems)
    assert m.cells >= 3 * 10


async def _check(
    m: Matrix, method: str, path: str, kind: str | None, params: list[str], in_schema: bool
) -> None:
    route = f"{method} {path}" + (f" [{kind}]" if kind else "")
    m.instances.append(route)
    resource_kind = kind or ("videos" if "video" in path else "images")
    mutating = method != "GET"
    ids: dict[str, str] = {}  # alice's resources
    shared: dict[str, str] = {}  # the same for every user (a model of the catalog)
    for name in params:
        what = registry.PATH_PARAMS[name]
        if what == "catalog":
            shared[name] = "tiny-image"
        elif what == "notification":
            ids[name] = str(m.owned.notifications[0 if resource_kind == "images" else 1])
        elif what == "endpoint":  # a fresh webhook endpoint of alice's (DELETE removes it)
            ids[name] = await m.new_endpoint()
        elif what == "batch":  # a fresh batch of alice's (one pending job)
            ids[name] = await m.new_batch()
        elif what == "upload":  # a fresh upload of alice's (DELETE removes it)
            ids[name] = await m.new_upload()
        elif mutating:  # a fresh job: DELETE a finished one, other actions a pending one
            ids[name] = str(
                await m.new_job(
                    "videos"
                    if what == "video"
                    else ("images" if what == "image" else resource_kind),
                    complete=method == "DELETE",
                )
            )
        else:
            ids[name] = str(m.owned.jobs["videos" if what == "video" else resource_kind])
    url = m.fill(path, kind, {**ids, **shared})
    body_for = registry.BODIES.get((method, path))
    body = body_for(kind) if body_for else None
    files_for = registry.FILES.get((method, path))
    sent = {"json": body, "files": files_for() if files_for else None}
    echoed = set(ids.values())
    before = await _owner_view(m, ids, resource_kind)

    anonymous = await fetch(m.http, method, url, **sent)
    m.expect(route, "anonymous", anonymous, {401})
    m.leaks("anonymous", route, anonymous, echoed)

    intruder = await fetch(m.http, method, url, **sent, headers=auth(INTRUDER))
    m.leaks(INTRUDER, route, intruder, echoed)
    if ids:
        m.expect(route, INTRUDER, intruder, {404})
        # indistinguishable from an id that does not exist
        missing_ids = {name: str(uuid.uuid4()) for name in ids}
        missing = await fetch(
            m.http,
            method,
            m.fill(path, kind, {**missing_ids, **shared}),
            **sent,
            headers=auth(INTRUDER),
        )
        as_if = missing.text
        for name, value in missing_ids.items():
            as_if = as_if.replace(value, ids[name])
        if (missing.status, as_if) != (intruder.status, intruder.text):
            m.problems.append(
                f"{route} as {INTRUDER}: differs from a missing id: {intruder.status} "
                f"{intruder.text[:200]} vs {missing.status} {missing.text[:200]}"
            )
        after = await _owner_view(m, ids, resource_kind)
        if after != before:
            m.problems.append(f"{route}: {INTRUDER} changed alice's resource: {before} → {after}")
    else:
        # their own create / list / action: what the owner would get, never alice's data
        m.expect(route, INTRUDER, intruder, _success(method, path))

    owner = await fetch(m.http, method, url, **sent, headers=auth(OWNER))
    expected = _success(method, path)
    m.expect(route, OWNER, owner, expected)
    if owner.status in expected and owner.status < 300 and method == "GET" and ids and in_schema:
        # the owner does get their data back (so the leak checks above can fail)
        if not any(v in owner.text for v in ids.values()) and "json" in owner.headers.get(
            "content-type", ""
        ):
            m.problems.append(f"{route} as owner: none of {ids} in {owner.text[:200]}")


def _success(method: str, path: str) -> set[int]:
    return registry.OWNER_STATUS.get((method, path), {200, 201, 202, 204})


async def _owner_view(m: Matrix, ids: dict[str, str], kind: str) -> Any:
    """What alice sees of the resources named by ``ids`` (status of jobs, read state)."""
    view: dict[str, Any] = {}
    for name, value in ids.items():
        if registry.PATH_PARAMS[name] == "endpoint":
            page = await m.http.get("/api/webhooks/endpoints", headers=auth(OWNER))
            view[name] = [e for e in page.json()["items"] if e["id"] == value]
        elif registry.PATH_PARAMS[name] == "upload":
            got = (await m.http.get(f"/api/uploads/{value}", headers=auth(OWNER))).json()
            view[name] = {k: v for k, v in got.items() if k != "url"}  # a fresh signature
        elif registry.PATH_PARAMS[name] == "notification":
            page = await m.http.get("/api/notifications?limit=100", headers=auth(OWNER))
            view[name] = [i["read_at"] for i in page.json()["items"] if i["id"] == value]
        else:
            for k in registry.KINDS:
                r = await m.http.get(f"/api/{k}/{value}/status", headers=auth(OWNER))
                if r.status_code == 200:
                    view[name] = r.json()
    return view


async def _check_media(m: Matrix, http: httpx.AsyncClient) -> None:
    result = await http.get(f"/api/images/{m.owned.jobs['images']}/result", headers=auth(OWNER))
    url = urlparse(result.json()["files"][0]["url"])
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    ok = await http.get(f"{url.path}?{url.query}")
    m.expect(
        "GET /media (owner's signed URL)",
        "anonymous",
        Answer(ok.status_code, ok.headers, ""),
        {200},
    )
    mallory_job = await m.new_job("images", complete=True, user=INTRUDER)
    key = url.path.removeprefix("/media/")
    edits = {
        "another user's object": f"/media/image/{mallory_job}/0.png?{url.query}",
        "another index": f"/media/{key.replace('/0.png', '/1.png')}?{url.query}",
        "traversal": f"/media/{key}/../../image/{mallory_job}/0.png?{url.query}",
        "later expiry": f"{url.path}?{urlencode({**query, 'expires': int(query['expires']) + 60})}",
        "no signature": f"{url.path}?expires={query['expires']}",
    }
    for name, edited in edits.items():
        r = await http.get(edited)
        m.expect(
            f"GET /media ({name})",
            "anonymous",
            Answer(r.status_code, r.headers, r.text),
            {403, 404, 422},
        )
        if r.status_code == 200 or PNG in r.content:
            m.problems.append(f"media edited ({name}) served bytes")
    r = await http.get(f"/media/image/{mallory_job}/0.png?{url.query}")
    m.expect(
        "GET /media (another user's object)",
        "anonymous",
        Answer(r.status_code, r.headers, r.text),
        {403},
    )


def test_a_route_the_matrix_cannot_classify_fails_with_how_to_register_it():
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/api/things/{thing_id}")
    def thing(thing_id: str) -> dict[str, str]:  # pragma: no cover - never called
        return {}

    @app.post("/api/things")
    def create_thing(body: _Thing) -> dict[str, str]:  # pragma: no cover - never called
        return {}

    @app.get("/api/search")
    def search(q: str) -> dict[str, str]:  # pragma: no cover - never called
        return {}

    openapi = app.openapi()
    problems = [unclassifiable(m, p, openapi) for m, p, _ in _routes(app) if p.startswith("/api")]
    assert all(problem and "isolation_routes.py" in problem for problem in problems), problems
    assert "['thing_id']" in problems[0] and "body needed: True" in problems[1]
    assert "required query ['q']" in problems[2]
    assert unclassifiable("GET", "/api/{kind}/{job_id}/status", openapi) is None


class _Thing(BaseModel):
    name: str
