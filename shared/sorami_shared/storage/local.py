"""A local directory as object storage (the embedded default).

Writes are atomic (a temporary file in the same directory, then ``os.replace``), so a reader
never sees half a file and a redelivered job simply overwrites. A writer killed between the two
leaves its temporary file behind; the next write of the same key (the redelivered job) removes
such leftovers once they are ``STALE_TMP_S`` old (younger ones may be a concurrent writer's).

Keys are validated: relative, ``/``-separated, no ``..``, no empty or hidden segments, so no
key can escape the root. There are no presigned URLs: the gateway serves these files behind
its own signed URLs.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from . import ObjectNotFound, StorageError
from .settings import StorageSettings

STALE_TMP_S = 5.0
_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._=-]*$")


class InvalidKey(ValueError):
    """A key that could name something outside the storage root (or is otherwise malformed)."""


def validate_key(key: str, *, prefix: bool = False) -> list[str]:
    """The key's path segments, or :class:`InvalidKey`. A prefix may end with ``/``."""
    if not isinstance(key, str) or not key or len(key) > 1024:
        raise InvalidKey(f"invalid storage key {key!r}")
    body = key[:-1] if prefix and key.endswith("/") else key
    if body.startswith("/") or "\\" in body or "\x00" in body:
        raise InvalidKey(f"storage key must be relative: {key!r}")
    parts = body.split("/")
    for part in parts:
        if part in ("", ".", "..") or not _SEGMENT.match(part):
            raise InvalidKey(f"invalid storage key {key!r}")
    return parts


class LocalStorage:
    def __init__(
        self, settings: StorageSettings | None = None, *, root: Path | None = None
    ) -> None:
        if root is None:
            root = (settings or StorageSettings()).storage_local_dir
        self.root = Path(root).resolve()

    def path_for(self, key: str) -> Path:
        path = self.root.joinpath(*validate_key(key)).resolve()
        if not path.is_relative_to(self.root):  # symlinks inside the root pointing out
            raise InvalidKey(f"storage key escapes the storage root: {key!r}")
        return path

    async def ensure_ready(self) -> None:
        await asyncio.to_thread(self._ensure_ready)

    def _ensure_ready(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = tempfile.NamedTemporaryFile(dir=self.root, prefix=".probe-", delete=True)
            probe.close()
        except OSError as exc:
            raise StorageError(f"local storage {self.root} not writable: {exc}") from exc

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self.path_for(key)
        await asyncio.to_thread(self._put, path, data)

    @staticmethod
    def _put(path: Path, data: bytes) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.chmod(tmp, 0o644)
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            raise StorageError(f"could not write {path}: {exc}") from exc
        _remove_stale_temporaries(path)

    async def get(self, key: str) -> bytes:
        path = self.path_for(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise ObjectNotFound(key) from exc
        except OSError as exc:
            raise StorageError(f"could not read {key}: {exc}") from exc

    async def exists(self, key: str) -> bool:
        path = self.path_for(key)
        return await asyncio.to_thread(path.is_file)

    async def delete_prefix(self, prefix: str) -> int:
        parts = validate_key(prefix, prefix=True)
        return await asyncio.to_thread(self._delete_prefix, parts, prefix.endswith("/"))

    def _delete_prefix(self, parts: list[str], is_dir: bool) -> int:
        base = self.root.joinpath(*parts)
        try:
            if is_dir or base.is_dir():
                if not base.exists():
                    return 0
                count = sum(1 for p in base.rglob("*") if p.is_file())
                shutil.rmtree(base)
                return count
            # A name prefix within a directory ("image/123" matches "image/1234/...").
            count = 0
            for entry in base.parent.glob(base.name + "*") if base.parent.exists() else []:
                if entry.is_dir():
                    count += sum(1 for p in entry.rglob("*") if p.is_file())
                    shutil.rmtree(entry)
                elif entry.is_file():
                    entry.unlink()
                    count += 1
            return count
        except OSError as exc:
            raise StorageError(f"could not delete {'/'.join(parts)}: {exc}") from exc

    async def presigned_url(self, key: str, expires_in: int) -> str | None:
        validate_key(key)
        return None

    async def presigned_put_url(
        self, key: str, expires_in: int, *, content_length: int
    ) -> str | None:
        validate_key(key)
        return None  # clients send files to the gateway (POST /api/uploads)

    async def size(self, key: str) -> int:
        path = self.path_for(key)
        try:
            stat = await asyncio.to_thread(path.stat)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise ObjectNotFound(key) from exc
        except OSError as exc:
            raise StorageError(f"could not stat {key}: {exc}") from exc
        return stat.st_size

    async def close(self) -> None:
        return None


def _remove_stale_temporaries(path: Path) -> None:
    """The temporary files of earlier writes of ``path`` that never finished (their writer was
    killed), once ``STALE_TMP_S`` old."""
    now = time.time()
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        with contextlib.suppress(OSError):  # gone already: another writer's, or removed
            if now - stale.stat().st_mtime > STALE_TMP_S:
                stale.unlink()
