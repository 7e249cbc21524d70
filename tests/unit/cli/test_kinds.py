"""A job id is enough: the kind is found by asking the API, and a wrong --kind is named."""

from __future__ import annotations

import pytest
from sorami_cli.errors import EXIT_USAGE, ApiError, CliError
from sorami_cli.kinds import with_kind


class FakeApi:
    """The kind-specific 404s of the REST API: a job is known under its own kind only."""

    def __init__(self, jobs: dict[str, str]) -> None:
        self.jobs = jobs
        self.calls: list[tuple[str, str, str]] = []

    def _find(self, what: str, kind: str, job_id: str) -> dict[str, str]:
        self.calls.append((what, kind, job_id))
        if self.jobs.get(job_id) != kind:
            raise ApiError(f"HTTP 404 from {what} {kind} {job_id}: generation not found", 404)
        return {"job_id": job_id, "kind": kind}

    def status(self, kind: str, job_id: str) -> dict[str, str]:
        return self._find("status", kind, job_id)

    def cancel(self, kind: str, job_id: str) -> dict[str, str]:
        return self._find("cancel", kind, job_id)


def test_without_kind_each_kind_is_tried_until_one_knows_the_job() -> None:
    api = FakeApi({"v1": "video", "i1": "image"})
    assert with_kind(api, "v1", None, lambda k: api.status(k, "v1"))[0] == "video"
    assert with_kind(api, "i1", None, lambda k: api.status(k, "i1"))[0] == "image"
    assert [c[1] for c in api.calls] == ["image", "video", "image"]


def test_a_job_no_kind_knows_is_not_found() -> None:
    api = FakeApi({})
    with pytest.raises(ApiError) as error:
        with_kind(api, "nope", None, lambda k: api.status(k, "nope"))
    assert error.value.status == 404 and error.value.code == 1
    assert "no image or video nope" in str(error.value)


def test_a_wrong_kind_is_named_and_the_action_is_not_run_under_the_other() -> None:
    api = FakeApi({"v1": "video"})
    with pytest.raises(CliError) as error:
        with_kind(api, "v1", "image", lambda k: api.cancel(k, "v1"))
    assert error.value.code == EXIT_USAGE
    assert "job v1 is a video, not an image" in str(error.value)
    assert api.calls == [("cancel", "image", "v1"), ("status", "video", "v1")]  # read-only probe


def test_a_right_kind_is_one_request_and_other_errors_pass_through() -> None:
    api = FakeApi({"i1": "image"})
    assert with_kind(api, "i1", "image", lambda k: api.status(k, "i1"))[0] == "image"
    assert len(api.calls) == 1

    def conflict(kind: str) -> None:
        raise ApiError("HTTP 409: already COMPLETED", 409)

    with pytest.raises(ApiError, match="409"):
        with_kind(api, "i1", None, conflict)
