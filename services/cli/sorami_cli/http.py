"""The REST API over HTTP: :class:`Client`, one method per endpoint, errors made readable."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from .errors import ApiError, CliError
from .events import EventStream


def describe_error(response: httpx.Response) -> str:
    """A readable one-liner from an error response (FastAPI's ``detail`` or anything else)."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return text[:500] or response.reason_phrase
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                parts.append(f"{loc}: {item.get('msg', item)}" if loc else str(item.get("msg")))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    if isinstance(detail, dict):
        msg = detail.get("message") or detail.get("error") or json.dumps(detail)
        return str(msg)
    return str(detail)


def plural(kind: str) -> str:
    return kind if kind.endswith("s") else f"{kind}s"


def _page(limit: int | None, cursor: str | None) -> dict[str, Any]:
    return {k: v for k, v in {"limit": limit, "cursor": cursor}.items() if v is not None}


@dataclass
class Client:
    base_url: str
    token: str
    timeout: float = 30.0

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=self.timeout,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise CliError(
                f"cannot reach the gateway at {self.base_url} ({exc.__class__.__name__}: {exc}); "
                "is it running? (`make up`)"
            ) from exc
        if response.status_code >= 400:
            raise ApiError(
                f"HTTP {response.status_code} from {method} {path}: {describe_error(response)}",
                response.status_code,
            )
        return response.json() if response.content else None

    # the API, one method per endpoint
    def generate(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", f"/api/{plural(kind)}/generate", json=body)

    def status(self, kind: str, job_id: str) -> dict[str, Any]:
        return self.request("GET", f"/api/{plural(kind)}/{job_id}/status")

    def result(self, kind: str, job_id: str) -> dict[str, Any]:
        return self.request("GET", f"/api/{plural(kind)}/{job_id}/result")

    def history(self, kind: str, limit: int | None = None, cursor: str | None = None) -> Any:
        return self.request("GET", f"/api/{plural(kind)}/user", params=_page(limit, cursor))

    def notifications(self, limit: int | None = None, cursor: str | None = None) -> Any:
        return self.request("GET", "/api/notifications", params=_page(limit, cursor))

    def unread_count(self) -> int:
        return self.request("GET", "/api/notifications/unread-count")["unread_count"]

    def mark_read(self, notification_id: str) -> dict[str, Any]:
        return self.request("POST", f"/api/notifications/{notification_id}/read")

    def mark_all_read(self) -> dict[str, Any]:
        return self.request("POST", "/api/notifications/read-all")

    def cancel(self, kind: str, job_id: str) -> dict[str, Any]:
        return self.request("POST", f"/api/{plural(kind)}/{job_id}/cancel")

    def delete(self, kind: str, job_id: str) -> None:
        self.request("DELETE", f"/api/{plural(kind)}/{job_id}")

    def events(self, last_event_id: int | None = None) -> EventStream:
        """The caller's event stream (not yet open)."""
        return EventStream(self._http, last_event_id=last_event_id)

    def absolute(self, url: str) -> str:
        return url if urlsplit(url).scheme else urljoin(self.base_url + "/", url.lstrip("/"))

    def download(self, url: str, dest: Path) -> tuple[Path, str]:
        """GET ``url`` (no auth header: file URLs carry their own signature) into ``dest``."""
        url = self.absolute(url)
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            with httpx.stream("GET", url, timeout=self.timeout, follow_redirects=True) as r:
                if r.status_code >= 400:
                    r.read()
                    raise CliError(f"HTTP {r.status_code} downloading {url}: {describe_error(r)}")
                with dest.open("wb") as f:
                    for chunk in r.iter_bytes():
                        f.write(chunk)
                return dest, r.headers.get("content-type", "")
        except httpx.HTTPError as exc:
            raise CliError(f"cannot download {url}: {exc}") from exc
