"""``s3://bucket/prefix`` → a complete local copy under ``root/bucket/prefix``, downloaded
once per node.

- Listed first (size and ETag of each object); a copy whose manifest matches the listing and
  whose files have the listed sizes is used as it is: nothing is downloaded.
- Otherwise, under a file lock (two replicas on one node: the second waits, then finds the
  copy up to date), the objects are written into a temporary sibling directory: an unchanged
  file of the old copy is hard-linked, every other object downloaded and checked (its size,
  and its MD5 against a single-part ETag); then the directory is renamed into place.
- A key that would leave the directory (``..``, absolute) is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from filelock import FileLock
from sorami_shared.logging import get_logger

log = get_logger(__name__)

MANIFEST = ".sorami-s3-manifest.json"
CHUNK = 8 * 2**20


@dataclass(frozen=True)
class SyncReport:
    path: Path
    files: int
    downloaded: int
    reused: int
    bytes_downloaded: int
    seconds: float


def parse_s3_url(url: str) -> tuple[str, str]:
    rest = url.removeprefix("s3://")
    bucket, _, prefix = rest.partition("/")
    prefix = prefix.strip("/")
    if not bucket or not prefix:
        raise ValueError(f"{url!r}: expected s3://bucket/prefix")
    return bucket, prefix


def _relative(key: str, prefix: str) -> str:
    rel = key[len(prefix) :].lstrip("/")
    parts = PurePosixPath(rel).parts
    if not rel or rel.startswith("/") or ".." in parts:
        raise ValueError(f"object key {key!r} would leave the model directory")
    return rel


def list_objects(client: Any, bucket: str, prefix: str) -> dict[str, tuple[int, str]]:
    found: dict[str, tuple[int, str]] = {}
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=prefix + "/"
    ):
        for obj in page.get("Contents", []):
            if obj["Key"].endswith("/"):
                continue  # a directory marker
            found[_relative(obj["Key"], prefix)] = (int(obj["Size"]), obj["ETag"].strip('"'))
    return found


def _manifest(target: Path) -> dict[str, list[Any]]:
    try:
        return json.loads((target / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}


def _up_to_date(target: Path, listing: dict[str, tuple[int, str]]) -> bool:
    manifest = _manifest(target)
    if manifest != {k: list(v) for k, v in listing.items()}:
        return False
    try:
        return all((target / rel).stat().st_size == size for rel, (size, _) in listing.items())
    except OSError:
        return False


def _download(client: Any, bucket: str, key: str, dest: Path, size: int, etag: str) -> None:
    body = client.get_object(Bucket=bucket, Key=key)["Body"]
    md5, written = hashlib.md5(usedforsecurity=False), 0
    with open(dest, "wb") as out:
        while chunk := body.read(CHUNK):
            out.write(chunk)
            md5.update(chunk)
            written += len(chunk)
    if written != size:
        raise OSError(f"s3://{bucket}/{key}: got {written} bytes, listed {size}")
    if "-" not in etag and md5.hexdigest() != etag:  # a multipart ETag is no MD5
        raise OSError(f"s3://{bucket}/{key}: MD5 {md5.hexdigest()} does not match ETag {etag}")


def sync_s3(url: str, root: Path, make_client: Callable[[], Any]) -> SyncReport:
    started = time.perf_counter()
    bucket, prefix = parse_s3_url(url)
    target = Path(root) / bucket / prefix
    client = make_client()
    listing = list_objects(client, bucket, prefix)
    if not listing:
        raise FileNotFoundError(f"no objects under {url}")
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if _up_to_date(target, listing):
            return SyncReport(
                target, len(listing), 0, len(listing), 0, time.perf_counter() - started
            )
        old = _manifest(target) if target.is_dir() else {}
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        downloaded = reused = nbytes = 0
        try:
            for rel, (size, etag) in listing.items():
                dest = tmp / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                previous = target / rel
                if (
                    old.get(rel) == [size, etag]
                    and previous.is_file()
                    and previous.stat().st_size == size
                ):
                    os.link(previous, dest)
                    reused += 1
                    continue
                _download(client, bucket, f"{prefix}/{rel}", dest, size, etag)
                downloaded, nbytes = downloaded + 1, nbytes + size
            (tmp / MANIFEST).write_text(json.dumps({k: list(v) for k, v in listing.items()}))
            trash = None
            if target.exists():
                trash = target.with_name(f".{target.name}-old-{os.getpid()}")
                os.rename(target, trash)
            os.rename(tmp, target)
            if trash is not None:
                shutil.rmtree(trash, ignore_errors=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    report = SyncReport(
        target, len(listing), downloaded, reused, nbytes, time.perf_counter() - started
    )
    log.info(
        "model weights synced from s3",
        source=url,
        path=str(target),
        files=report.files,
        downloaded=downloaded,
        reused=reused,
        mb=round(nbytes / 2**20, 1),
        seconds=round(report.seconds, 2),
    )
    return report
