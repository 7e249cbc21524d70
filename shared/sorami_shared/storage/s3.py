"""S3 (any S3-compatible endpoint: AWS, MinIO, SeaweedFS...) through aioboto3.

One client per process, opened lazily. Connection problems and server errors raise
:class:`StorageError` (transient: the caller retries); a missing object raises
:class:`ObjectNotFound`. Presigned URLs are signed for ``s3_public_endpoint_url`` when set (the
address browsers use), else for the services' endpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from . import ObjectNotFound, StorageError
from .local import validate_key
from .settings import StorageSettings

_NOT_FOUND = {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}


class S3Storage:
    def __init__(self, settings: StorageSettings) -> None:
        import aioboto3
        from botocore.config import Config

        self.settings = settings
        self.bucket = settings.s3_bucket
        self._session = aioboto3.Session()
        self._config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            connect_timeout=settings.s3_connect_timeout_s,
            read_timeout=settings.s3_read_timeout_s,
            retries={"max_attempts": settings.s3_max_attempts, "mode": "standard"},
        )
        self._stack: contextlib.AsyncExitStack | None = None
        self._client: Any = None
        self._public_client: Any = None
        self._lock = asyncio.Lock()

    def _client_kwargs(self, endpoint_url: str | None) -> dict[str, Any]:
        s = self.settings
        return {
            "service_name": "s3",
            "endpoint_url": endpoint_url,
            "region_name": s.s3_region,
            "aws_access_key_id": s.s3_access_key_id.get_secret_value()
            if s.s3_access_key_id
            else None,
            "aws_secret_access_key": (
                s.s3_secret_access_key.get_secret_value() if s.s3_secret_access_key else None
            ),
            "config": self._config,
        }

    async def _get_client(self, public: bool = False) -> Any:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    stack = contextlib.AsyncExitStack()
                    client = await stack.enter_async_context(
                        self._session.client(**self._client_kwargs(self.settings.s3_endpoint_url))
                    )
                    public_url = self.settings.s3_public_endpoint_url
                    self._public_client = (
                        await stack.enter_async_context(
                            self._session.client(**self._client_kwargs(public_url))
                        )
                        if public_url and public_url != self.settings.s3_endpoint_url
                        else client
                    )
                    self._stack, self._client = stack, client
        return self._public_client if public else self._client

    async def ensure_ready(self) -> None:
        client = await self._get_client()
        try:
            await client.head_bucket(Bucket=self.bucket)
            return
        except Exception as exc:  # noqa: BLE001
            if not _is_not_found(exc):
                raise _storage_error(f"bucket {self.bucket} unreachable", exc) from exc
        if not self.settings.s3_create_bucket:
            raise StorageError(f"bucket {self.bucket} does not exist (s3_create_bucket is off)")
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        if self.settings.s3_region and self.settings.s3_region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.settings.s3_region}
        try:
            await client.create_bucket(**kwargs)
        except Exception as exc:  # noqa: BLE001
            if _error_code(exc) in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                return
            raise _storage_error(f"could not create bucket {self.bucket}", exc) from exc

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        validate_key(key)
        client = await self._get_client()
        try:
            await client.put_object(
                Bucket=self.bucket, Key=key, Body=data, ContentType=content_type
            )
        except Exception as exc:  # noqa: BLE001
            raise _storage_error(f"could not put {key}", exc) from exc

    async def get(self, key: str) -> bytes:
        validate_key(key)
        client = await self._get_client()
        try:
            response = await client.get_object(Bucket=self.bucket, Key=key)
            async with response["Body"] as body:
                return await body.read()
        except Exception as exc:  # noqa: BLE001
            if _is_not_found(exc):
                raise ObjectNotFound(key) from exc
            raise _storage_error(f"could not get {key}", exc) from exc

    async def exists(self, key: str) -> bool:
        validate_key(key)
        client = await self._get_client()
        try:
            await client.head_object(Bucket=self.bucket, Key=key)
            return True
        except Exception as exc:  # noqa: BLE001
            if _is_not_found(exc):
                return False
            raise _storage_error(f"could not check {key}", exc) from exc

    async def delete_prefix(self, prefix: str) -> int:
        validate_key(prefix, prefix=True)
        client = await self._get_client()
        deleted = 0
        try:
            paginator = client.get_paginator("list_objects_v2")
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                for i in range(0, len(keys), 1000):
                    batch = keys[i : i + 1000]
                    await client.delete_objects(
                        Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
                    )
                    deleted += len(batch)
        except Exception as exc:  # noqa: BLE001
            if _is_not_found(exc):
                return deleted
            raise _storage_error(f"could not delete {prefix}", exc) from exc
        return deleted

    async def presigned_url(self, key: str, expires_in: int) -> str | None:
        validate_key(key)
        client = await self._get_client(public=True)
        try:
            return await client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_in
            )
        except Exception as exc:  # noqa: BLE001
            raise _storage_error(f"could not presign {key}", exc) from exc

    async def presigned_put_url(
        self, key: str, expires_in: int, *, content_length: int
    ) -> str | None:
        """Signed with the length: S3 refuses a PUT of any other size."""
        validate_key(key)
        client = await self._get_client(public=True)
        params = {"Bucket": self.bucket, "Key": key, "ContentLength": content_length}
        try:
            return await client.generate_presigned_url(
                "put_object", Params=params, ExpiresIn=expires_in
            )
        except Exception as exc:  # noqa: BLE001
            raise _storage_error(f"could not presign a PUT of {key}", exc) from exc

    async def size(self, key: str) -> int:
        validate_key(key)
        client = await self._get_client()
        try:
            head = await client.head_object(Bucket=self.bucket, Key=key)
        except Exception as exc:  # noqa: BLE001
            if _is_not_found(exc):
                raise ObjectNotFound(key) from exc
            raise _storage_error(f"could not check {key}", exc) from exc
        return int(head["ContentLength"])

    async def close(self) -> None:
        stack, self._stack, self._client, self._public_client = self._stack, None, None, None
        if stack is not None:
            await stack.aclose()


def _error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        code = error.get("Code")
        if code is None:
            code = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return str(code) if code is not None else None
    return None


def _is_not_found(exc: BaseException) -> bool:
    return _error_code(exc) in _NOT_FOUND


def _storage_error(message: str, exc: BaseException) -> StorageError:
    code = _error_code(exc)
    return StorageError(f"{message}: {code or type(exc).__name__}: {exc}")
