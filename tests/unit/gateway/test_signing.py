from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from sorami_gateway.media.signing import is_safe_key, sign, signed_media_url, verify

SECRET = b"unit-test-secret"
KEY = "image/0d6f3a52-8f47-4d0b-9d1e-3f2a1c9b7e10/0.png"


def test_signed_url_verifies_until_it_expires():
    url = urlparse(signed_media_url("http://gw:8000/", SECRET, KEY, 60, now=1000))
    assert url.path == f"/media/{KEY}"
    q = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert q["expires"] == "1060"
    assert verify(SECRET, KEY, 1060, q["signature"], now=1059)
    assert not verify(SECRET, KEY, 1060, q["signature"], now=1061)


def test_any_edit_invalidates():
    signature = sign(SECRET, KEY, 2000)
    assert verify(SECRET, KEY, 2000, signature, now=0)
    assert not verify(SECRET, KEY.replace("0.png", "1.png"), 2000, signature, now=0)
    assert not verify(SECRET, KEY, 2001, signature, now=0)
    assert not verify(b"other", KEY, 2000, signature, now=0)
    assert not verify(SECRET, KEY, 2000, signature[:-1] + "0", now=0) or signature.endswith("0")


@pytest.mark.parametrize(
    "key",
    [
        "",
        "/etc/passwd",
        "../x",
        "image/../../x",
        "image//x",
        "image/./x",
        "a\\b",
        "image/.hidden",
        "image/x\x00.png",
        "image/" + "a" * 200,
    ],
)
def test_unsafe_keys(key):
    assert not is_safe_key(key)
    assert not verify(SECRET, key, 10**12, sign(SECRET, key, 10**12), now=0)


def test_safe_key():
    assert is_safe_key(KEY) and is_safe_key("video/abc/0.mp4")


@pytest.mark.parametrize("signature", ["Æ" * 64, "é" + "0" * 63, "\U0001f600" * 16])
def test_a_non_ascii_signature_is_refused_not_an_error(signature):
    # hmac.compare_digest raises TypeError on non-ASCII str: the fuzzer's 500 on /media
    assert not verify(SECRET, KEY, 10**12, signature, now=0)
