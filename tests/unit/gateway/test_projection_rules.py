"""The projection's rules that need no database: one handler per event type the projection
queue receives, a dead letter for any other type, which late events leave files to remove,
and which events belong to a generation."""

from __future__ import annotations

import uuid

import pytest
from sorami_gateway.generations.projection import belongs_to, leaves_files
from sorami_gateway.generations.tables import Generation
from sorami_gateway.workers.projector import HANDLERS, project
from sorami_shared.events import (
    GenerationCancelled,
    GenerationRequested,
    Kind,
    new_event,
)
from sorami_shared.messaging import Reject
from sorami_shared.topology import GATEWAY_PROJECTION

from tests.integration.gateway.projection_events import completed, failed, progress

JOB = uuid.uuid4()


def cancelled(files_left: bool) -> GenerationCancelled:
    return GenerationCancelled(job_id=JOB, user_id="alice", kind=Kind.IMAGE, files_left=files_left)


def test_every_type_the_projection_queue_receives_has_exactly_one_handler():
    assert set(HANDLERS) == set(GATEWAY_PROJECTION.routing_keys)


async def test_an_event_type_without_a_handler_is_dead_lettered_before_any_query():
    request = new_event(
        GenerationRequested.model_validate(
            {
                "job_id": JOB,
                "user_id": "alice",
                "kind": "image",
                "params": {
                    "prompt": "p",
                    "model": "m",
                    "width": 64,
                    "height": 64,
                    "num_inference_steps": 1,
                    "guidance_scale": 1.0,
                    "seed": 1,
                },
            }
        ),
        source="test",
        correlation_id="c",
    )
    with pytest.raises(Reject, match="does not handle generation.requested"):
        await project(None, request)  # type: ignore[arg-type]  # no session is touched


def test_completed_and_cancelled_with_files_leave_objects_to_remove():
    assert leaves_files(completed(JOB).data)
    assert leaves_files(cancelled(files_left=True))
    assert not leaves_files(cancelled(files_left=False))
    assert not leaves_files(progress(JOB, 10).data)
    assert not leaves_files(failed(JOB).data)


def test_an_event_belongs_to_a_generation_of_the_same_user_and_kind():
    generation = Generation(id=JOB, user_id="alice", kind="image", params={}, correlation_id="c")
    assert belongs_to(generation, progress(JOB, 10).data)
    assert not belongs_to(generation, progress(JOB, 10, user="bob").data)
    assert not belongs_to(generation, progress(JOB, 10, kind=Kind.VIDEO).data)
