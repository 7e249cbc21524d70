"""One HTTP attempt of a webhook: POST, bounded in time and in what is read back.

- The host is resolved and checked (:mod:`.addresses`) before each connection, and the
  request goes to the checked address (``Host`` and TLS SNI still name the host, so
  certificates are verified against it).
- Redirects are followed by hand, at most ``max_redirects``, only to the same scheme, host
  and port, each re-resolved and re-checked; a redirect elsewhere ends the attempt.
- ``timeout_s`` bounds the whole attempt, redirects included; the response body is read up to
  ``max_response_bytes`` and the rest discarded unread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from .addresses import AddressPolicy, Refused, Resolver, checked_address
from .settings import WebhookSettings

REDIRECTS = {301, 302, 303, 307, 308}

# httpx logs every request's URL at INFO (httpcore its headers at DEBUG): a webhook URL's
# path or query may be a credential, and the deliverer logs what it did itself, redacted.
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).setLevel(logging.WARNING)


@dataclass(frozen=True)
class Attempt:
    status_code: int | None
    duration_ms: int
    error: str | None = None
    refused: bool = False  # the SSRF guard said no: retrying changes nothing

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, (parts.hostname or "").lower(), port


def _pinned(url: str, address: str) -> str:
    parts = urlsplit(url)
    _, _, port = _origin(url)
    host = f"[{address}]" if ":" in address else address
    return urlunsplit((parts.scheme, f"{host}:{port}", parts.path or "/", parts.query, ""))


class Sender:
    def __init__(
        self, settings: WebhookSettings, policy: AddressPolicy, resolver: Resolver
    ) -> None:
        self.settings = settings
        self.policy = policy
        self.resolver = resolver
        self.client = httpx.AsyncClient(
            follow_redirects=False,
            trust_env=False,  # no proxy from the environment: the checked address is the peer
            timeout=httpx.Timeout(settings.timeout_s, connect=settings.connect_timeout_s),
            limits=httpx.Limits(max_connections=settings.concurrency * 2),
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Attempt:
        started = time.monotonic()

        def done(code: int | None, error: str | None = None, refused: bool = False) -> Attempt:
            ms = int((time.monotonic() - started) * 1000)
            return Attempt(code, ms, error, refused)

        try:
            async with asyncio.timeout(self.settings.timeout_s):
                return await self._follow(url, body, headers, done)
        except Refused as exc:
            return done(None, f"refused: {exc}", refused=True)
        except TimeoutError:
            return done(None, f"timed out after {self.settings.timeout_s:g}s")
        except httpx.HTTPError as exc:
            return done(None, f"{type(exc).__name__}: {str(exc)[:200]}")

    async def _follow(self, url, body, headers, done):  # type: ignore[no-untyped-def]
        origin = _origin(url)
        for _ in range(self.settings.max_redirects + 1):
            scheme, host, port = _origin(url)
            address = await checked_address(self.resolver, self.policy, host, port)
            request = self.client.build_request(
                "POST",
                _pinned(url, address),
                content=body,
                headers={
                    **headers,
                    "Host": urlsplit(url).netloc,
                    "Content-Type": "application/json",
                },
                extensions={"sni_hostname": host} if scheme == "https" else {},
            )
            response = await self.client.send(request, stream=True)
            try:
                await self._read_capped(response)
            finally:
                await response.aclose()
            location = response.headers.get("location")
            if response.status_code not in REDIRECTS or not location:
                return done(response.status_code)
            url = urljoin(url, location)
            if _origin(url) != origin:
                return done(
                    response.status_code, "redirect to another host not followed", refused=True
                )
        return done(None, f"more than {self.settings.max_redirects} redirects")

    async def _read_capped(self, response: httpx.Response) -> bytes:
        cap = self.settings.max_response_bytes
        read = bytearray()
        async for chunk in response.aiter_raw():
            read += chunk[: cap - len(read)]
            if len(read) >= cap:
                break
        return bytes(read)
