"""Files sent to ``/v1`` (``images.edit``'s image and mask, ``videos.create``'s
``input_reference``) stored as the user's uploads: the caps and quota of
:mod:`sorami_gateway.uploads`, errors in OpenAI's shape naming the parameter."""

from __future__ import annotations

import asyncio

from sorami_shared.storage import Storage, StorageError

from ..rest.deps import Sessions
from ..upload_settings import UploadSettings
from ..uploads import service as uploads
from ..uploads.images import CheckedImage, ImageRefused, check_image
from ..uploads.store import store_upload
from .errors import OpenAIError, bad_request, unavailable


async def checked_image(name: str, data: bytes, max_pixels: int) -> CheckedImage:
    """``data`` checked like ``POST /api/uploads`` (400 naming ``name`` otherwise)."""
    try:
        return await asyncio.to_thread(check_image, data, max_pixels=max_pixels)
    except ImageRefused as exc:
        message = f"Invalid {name}: {exc.reason}."
        raise bad_request(message, param=name, code="invalid_image") from None


async def store_files(
    sessions: Sessions,
    storage: Storage | None,
    limits: UploadSettings,
    user_id: str,
    checked: dict[str, CheckedImage],
) -> dict[str, str]:
    """Each checked image stored as an upload of ``user_id``: name → upload id."""
    if storage is None:
        raise unavailable("storage unavailable")
    ids: dict[str, str] = {}
    async with sessions() as session:
        for name, image in checked.items():
            try:
                row = await store_upload(session, storage, limits, user_id, image)
            except uploads.QuotaExceeded as exc:
                raise OpenAIError(
                    413,
                    f"Upload quota exceeded ({exc.used} of {exc.quota} bytes in use).",
                    param=name,
                    code="quota_exceeded",
                ) from None
            except StorageError:
                raise unavailable("storage unavailable") from None
            ids[name] = str(row.id)
    return ids
