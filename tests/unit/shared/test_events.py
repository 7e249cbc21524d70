import json
import uuid

import pytest
from sorami_shared.events import (
    EVENT_MODELS,
    FileInfo,
    GenerationCompleted,
    GenerationParams,
    GenerationProgress,
    GenerationProgressBatch,
    GenerationRequested,
    Kind,
    ProgressEntry,
    UnparseableEvent,
    derived_id,
    new_event,
    parse_event,
    progress_events,
)


def _requested() -> GenerationRequested:
    return GenerationRequested(
        job_id=uuid.uuid4(),
        user_id="alice",
        kind=Kind.VIDEO,
        params=GenerationParams(
            prompt="a cat",
            model="tiny-video",
            width=64,
            height=64,
            num_inference_steps=2,
            guidance_scale=1.0,
            seed=7,
            num_frames=8,
            fps=8,
        ),
    )


def test_envelope_carries_cloudevents_attributes_and_correlation_id():
    data = _requested()
    env = new_event(data, source="sorami/gateway", correlation_id="corr-1")
    body = json.loads(env.to_json())
    assert body["specversion"] == "1.0"
    assert body["type"] == "generation.requested"
    assert body["source"] == "sorami/gateway"
    assert body["datacontenttype"] == "application/json"
    assert body["correlationid"] == "corr-1"
    assert body["subject"] == str(data.job_id)
    assert body["dataversion"] == 1
    assert uuid.UUID(body["id"])
    assert body["time"].endswith("Z")


def test_round_trip_gives_the_typed_model_back():
    env = new_event(_requested(), source="s", correlation_id="c")
    parsed = parse_event(env.to_json())
    assert isinstance(parsed.data, GenerationRequested)
    assert parsed == env
    assert parsed.job_id == env.data.job_id and parsed.user_id == "alice"


def test_every_event_type_is_registered_at_version_one_and_progress_also_at_two():
    assert sorted(k for k in EVENT_MODELS if k[1] != 1) == [("generation.progress", 2)]
    types = sorted(t for t, v in EVENT_MODELS if v == 1)
    assert types == sorted(
        [
            "generation.cancel_requested",
            "generation.cancelled",
            "generation.completed",
            "generation.failed",
            "generation.progress",
            "generation.preview",
            "generation.requested",
            "notification.created",
        ]
    )


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda b: b"\x00garbage", "not a valid envelope"),
        (lambda b: b"{}", "not a valid envelope"),
        (lambda b: b.replace(b'"dataversion":1', b'"dataversion":2'), "version 2 is not supported"),
        (
            lambda b: b.replace(b"generation.requested", b"generation.exploded"),
            "unknown event type",
        ),
        (lambda b: b.replace(b'"prompt":"a cat",', b""), "invalid generation.requested data"),
        (lambda b: b.replace(b'"kind":"video"', b'"kind":"audio"'), "invalid generation.requested"),
        (lambda b: b.replace(b'"specversion":"1.0"', b'"specversion":"0.3"'), "not a valid"),
    ],
)
def test_what_cannot_be_understood_is_refused_with_a_reason(mutate, reason):
    body = new_event(_requested(), source="s", correlation_id="c").to_json()
    with pytest.raises(UnparseableEvent, match=reason):
        parse_event(mutate(body))


def test_unknown_fields_are_refused_rather_than_silently_dropped():
    body = json.loads(new_event(_requested(), source="s", correlation_id="c").to_json())
    body["data"]["surprise"] = 1
    with pytest.raises(UnparseableEvent, match="surprise"):
        parse_event(json.dumps(body))


def test_completed_needs_at_least_one_file():
    with pytest.raises(ValueError):
        GenerationCompleted(
            job_id=uuid.uuid4(), user_id="u", kind=Kind.IMAGE, model="m", seed=1, files=[]
        )
    ok = GenerationCompleted(
        job_id=uuid.uuid4(),
        user_id="u",
        kind=Kind.IMAGE,
        model="m",
        seed=1,
        files=[
            FileInfo(
                index=0, key="image/x/0.png", mime_type="image/png", bytes=3, width=8, height=8
            )
        ],
    )
    assert ok.files[0].key == "image/x/0.png"


def test_derived_ids_are_stable_and_distinct():
    job = uuid.uuid4()
    assert derived_id("generation.completed", job) == derived_id("generation.completed", job)
    assert derived_id("generation.completed", job) != derived_id("generation.failed", job)
    assert derived_id("generation.completed", job) != derived_id(
        "generation.completed", uuid.uuid4()
    )


def test_kind_plural_is_the_rest_path_segment():
    assert Kind.IMAGE.plural == "images" and Kind.VIDEO.plural == "videos"


def test_a_progress_of_several_jobs_reads_as_one_version_one_event_per_job():
    jobs = [uuid.uuid4(), uuid.uuid4()]
    entries = [
        ProgressEntry(job_id=j, user_id="alice", kind=Kind.IMAGE, progress=10 * i, step=i,
                      total_steps=4, correlation_id=f"corr-{i}")
        for i, j in enumerate(jobs)
    ]  # fmt: skip
    env = parse_event(
        new_event(GenerationProgressBatch(jobs=entries), source="g", correlation_id="c").to_json()
    )
    assert env.dataversion == 2 and env.type == "generation.progress"
    ones = progress_events(env)
    assert [(e.data.job_id, e.data.progress, e.correlationid) for e in ones] == [
        (jobs[0], 0, "corr-0"), (jobs[1], 10, "corr-1")
    ]  # fmt: skip
    assert all(type(e.data) is GenerationProgress and e.time == env.time for e in ones)
    again = progress_events(parse_event(env.to_json()))  # a redelivery: the very same ids
    assert [e.id for e in again] == [e.id for e in ones] and len({e.id for e in ones}) == 2
    empty = json.loads(env.to_json())
    empty["data"]["jobs"] = []
    with pytest.raises(UnparseableEvent, match="jobs"):
        parse_event(json.dumps(empty))


def test_prepare_envelopes_builds_every_events_envelope_once() -> None:
    from sorami_shared import events

    events.prepare_envelopes()
    built = dict(events._ENVELOPES)
    assert set(built) == set(events.EVENT_MODELS.values())
    events.prepare_envelopes()
    assert all(events._ENVELOPES[m] is built[m] for m in built)  # kept, not rebuilt
