"""Signed, expiring media URLs for the local storage backend.

signature = hex(HMAC-SHA256(secret, key + "\\n" + expires)); the key is part of what is signed,
so editing the path (to reach another object) invalidates the signature.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from urllib.parse import quote, urlencode

# Storage keys look like ``image/<uuid>/0.png``: segments of safe characters, no dot-segments.
_SEGMENT = r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}"
_KEY_RE = re.compile(rf"^{_SEGMENT}(?:/{_SEGMENT}){{0,7}}$")


def is_safe_key(key: str) -> bool:
    return bool(_KEY_RE.fullmatch(key)) and ".." not in key.split("/")


def sign(secret: bytes, key: str, expires: int) -> str:
    return hmac.new(secret, f"{key}\n{expires}".encode(), hashlib.sha256).hexdigest()


def verify(
    secret: bytes, key: str, expires: int, signature: str, *, now: float | None = None
) -> bool:
    if not is_safe_key(key):
        return False
    if expires < (time.time() if now is None else now):
        return False
    # bytes: compare_digest refuses str with non-ASCII characters (a 500 found by fuzzing)
    return hmac.compare_digest(sign(secret, key, expires).encode(), signature.encode())


def signed_media_url(
    base_url: str, secret: bytes, key: str, ttl_s: int, *, now: float | None = None
) -> str:
    expires = int((time.time() if now is None else now) + ttl_s)
    query = urlencode({"expires": expires, "signature": sign(secret, key, expires)})
    return f"{base_url.rstrip('/')}/media/{quote(key)}?{query}"
