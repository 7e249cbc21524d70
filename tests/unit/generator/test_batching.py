"""Forming a batch: compatibility keys, caps, and round-robin across users (pure logic)."""

from dataclasses import dataclass

from sorami_generator.batching import FairQueue, call_key, images_of
from sorami_generator.requests import plan_call
from sorami_generator.settings import BUILTIN_MODELS
from sorami_shared.events import GenerationParams, GenerationRequested, Kind


@dataclass(eq=False)
class Job:
    user: str
    key: str = "k"
    images: int = 1
    name: str = ""


def planned(kind=Kind.IMAGE, **params):
    base = {"prompt": "a fox", "model": "tiny-image", "width": 64, "height": 64}
    base.update(num_inference_steps=2, guidance_scale=5.0)
    if kind == Kind.VIDEO:
        base.update(model="tiny-video", num_frames=8, fps=8)
    base.update(params)
    import uuid

    job = GenerationRequested(
        job_id=uuid.uuid4(), user_id="u", kind=kind, params=GenerationParams(**base)
    )
    return plan_call(job, BUILTIN_MODELS[base["model"]])


def test_prompts_and_seeds_do_not_split_a_batch_but_any_other_argument_does():
    one = call_key(planned(prompt="a cat", seed=1))
    assert one == call_key(planned(prompt="a dog", seed=2))
    # negatives are per job, but having one or not changes the call (SDXL: zeros vs "";
    # FLUX: true CFG on): jobs with negatives batch together, never with jobs without
    negative = call_key(planned(prompt="a cat", negative_prompt="blurry"))
    assert negative != one and negative == call_key(planned(negative_prompt="dark", seed=3))
    assert one == call_key(planned(num_images=3))  # images per job are per-job entries
    for other in ({"width": 128}, {"num_inference_steps": 3}, {"guidance_scale": 1.5}):
        assert call_key(planned(**other)) != one, other
    video = call_key(planned(Kind.VIDEO))
    assert video != one and call_key(planned(Kind.VIDEO, fps=12)) != video
    assert call_key(planned(Kind.VIDEO, num_frames=16)) != video
    assert images_of(planned(Kind.VIDEO, num_images=2)) == 16 and images_of(planned()) == 1


def test_one_users_burst_is_served_round_robin_with_another_user():
    q: FairQueue[Job] = FairQueue()
    for i in range(40):
        q.add(Job("alice", name=f"a{i}"))
    first = q.plan(8, 64)
    q.take(first)
    assert [j.name for j in first] == [f"a{i}" for i in range(8)]
    q.add(Job("bob", name="b0"))
    second = q.plan(8, 64)
    assert second[0].name == "b0" and len(second) == 8  # bob first: alice was just served
    q.take(second)
    assert "b0" not in [j.name for j in q]


def test_the_key_is_the_next_users_oldest_job_and_others_wait():
    q: FairQueue[Job] = FairQueue()
    q.add(Job("alice", key="small", name="a0"))
    q.add(Job("bob", key="big", name="b0"))
    q.add(Job("bob", key="small", name="b1"))
    batch = q.plan(8, 64)
    assert [j.name for j in batch] == ["a0", "b1"]
    q.take(batch)
    assert [j.name for j in q.plan(8, 64)] == ["b0"]


def test_the_images_cap_holds_but_a_single_large_job_still_runs():
    q: FairQueue[Job] = FairQueue()
    for user in ("a", "b", "c"):
        q.add(Job(user, images=8))
    assert len(q.plan(8, 16)) == 2
    assert FairQueue.is_full(q.plan(8, 16), 8, 16)
    lone: FairQueue[Job] = FairQueue()
    lone.add(Job("a", images=100))
    assert len(lone.plan(8, 16)) == 1


def test_draft_jobs_never_share_a_call_with_full_ones():
    import uuid

    spec = BUILTIN_MODELS["tiny-image"].model_copy(update={"draft_decoder": "builtin:tiny-taesd"})

    def key(quality):
        params = GenerationParams(
            prompt="a fox", model="tiny-image", width=64, height=64, num_inference_steps=2,
            guidance_scale=5.0, quality=quality,
        )  # fmt: skip
        job = GenerationRequested(job_id=uuid.uuid4(), user_id="u", kind=Kind.IMAGE, params=params)
        return call_key(plan_call(job, spec))

    assert key("draft") == key("draft") != key("full") == key(None)
