"""A job id is enough: find whether it is an image or a video.

The REST paths carry the kind (``/api/images/ID``, ``/api/videos/ID``) and a job id belongs to
exactly one of them; the other answers 404, as for a job the caller never had. So the command
line tries the kinds in turn, and a ``--kind`` that names the wrong one is told apart from a
job that does not exist by asking the other kind.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from .errors import EXIT_USAGE, ApiError, CliError
from .http import Client

KINDS = ("image", "video")
T = TypeVar("T")


def article(kind: str) -> str:
    return f"an {kind}" if kind[:1] in "aeiou" else f"a {kind}"


def _actual_kind(client: Client, job_id: str, not_kind: str) -> str | None:
    """The other kind that knows ``job_id`` (read-only: a status request), or None."""
    for kind in KINDS:
        if kind == not_kind:
            continue
        try:
            client.status(kind, job_id)
        except ApiError as exc:
            if exc.status != 404:
                raise
        else:
            return kind
    return None


def with_kind(
    client: Client, job_id: str, kind: str | None, action: Callable[[str], T]
) -> tuple[str, T]:
    """Run ``action(kind)`` for ``--kind``, or, without it, for each kind until one knows the
    job; returns the kind and what the action returned. A wrong ``--kind`` is a usage error
    that names the right one; a job no kind knows answers the API's 404."""
    missing: ApiError | None = None
    for candidate in [kind] if kind else KINDS:
        try:
            return candidate, action(candidate)
        except ApiError as exc:
            if exc.status != 404:
                raise
            missing = exc
    assert missing is not None
    if kind is None:
        raise ApiError(f"HTTP 404: no image or video {job_id} of yours", 404) from missing
    actual = _actual_kind(client, job_id, kind)
    if actual is None:
        raise missing
    raise CliError(
        f"job {job_id} is {article(actual)}, not {article(kind)} "
        f"(drop --kind, or use --kind {actual})",
        EXIT_USAGE,
    )
