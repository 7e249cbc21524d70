"""The web app (top-level ``web/``: ES modules and CSS served as they are) mounted at ``/``.

It ships inside this distribution: ``sorami_gateway/web`` is a link to the repository's
``web/`` and its files are package data, so an installed gateway serves it with no checkout.
``SORAMI_GATEWAY_WEB_DIR`` serves another directory; ``SORAMI_GATEWAY_SERVE_WEB=false`` none.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sorami_shared.logging import get_logger
from starlette.responses import Response
from starlette.types import Scope

from .settings import GatewaySettings

log = get_logger(__name__)

PACKAGED_WEB_DIR = Path(__file__).resolve().parent / "web"

# Same origin only for code and API calls; media may come from S3 (presigned URLs).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data: blob: http: https:; media-src 'self' blob: http: https:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


class WebFiles(StaticFiles):
    """Static files that browsers revalidate (ETag) on each load, so an upgraded gateway
    never runs a mix of old and new modules."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        if response.media_type == "text/html":
            response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        return response


def mount_web_app(app: FastAPI, settings: GatewaySettings) -> None:
    """Mount the web app at ``/``; call it after every API route (a mount at ``/`` matches
    anything the routes before it did not)."""
    if not settings.serve_web:
        return
    directory = settings.web_dir or PACKAGED_WEB_DIR
    if not (directory / "index.html").is_file():
        log.warning("web app not found; serving the API only", web_dir=str(directory))
        return
    app.mount("/", WebFiles(directory=directory, html=True), name="web")
