"""The release order (sorami_gateway.scheduling.policy): tiers, per-user deficit round-robin
weighted by cost, age; free slots per queue; turns carried across passes."""

from __future__ import annotations

import uuid

from sorami_gateway.scheduling.policy import Queued, Share, job_cost, plan, plan_by


def job(user: str, at: float, *, cost: float = 1.0, tier: str = "interactive", model: str = "q"):
    return Queued(uuid.uuid4(), user, tier, model, cost, at)


def users(released: list[Queued]) -> list[str]:
    return [j.user_id for j in released]


def test_a_one_job_user_goes_before_a_hundred_job_backlog():
    backlog = [job("heavy", float(i)) for i in range(100)]
    light = job("light", 500.0)  # arrives last
    order = plan([*backlog, light], {}, None, now=1000.0).released
    assert order.index(light) <= 1
    assert order[0].user_id in ("heavy", "light")


def test_users_alternate_and_each_users_jobs_keep_their_age_order():
    a = [job("a", float(i)) for i in range(3)]
    b = [job("b", 10.0 + i) for i in range(3)]
    order = plan([*b, *a], {}, None, now=100.0).released
    assert users(order) == ["a", "b", "a", "b", "a", "b"]
    assert [j for j in order if j.user_id == "a"] == a


def test_cost_weights_the_share():
    # quantum = the dearest job (4): per round "big" gets one job, "small" four
    big = [job("big", float(i), cost=4.0) for i in range(3)]
    small = [job("small", 0.5 + i, cost=1.0) for i in range(12)]
    order = users(plan([*big, *small], {}, None, now=100.0).released)
    assert order[:5] == ["big", "small", "small", "small", "small"]
    assert order.count("small") == 12


def test_interactive_goes_before_batch_whatever_the_age():
    old_batch = [job("team", float(i), tier="batch") for i in range(5)]
    late = job("solo", 99.0)
    order = plan([*old_batch, late], {}, {"q": 2}, now=100.0).released
    assert order[0] is late and order[1].tier == "batch" and len(order) == 2


def test_a_batch_never_takes_the_reserved_slots_and_interactive_jobs_may():
    batch = [job("team", float(i), tier="batch") for i in range(20)]
    decided = plan(batch, {}, {"q": 16, "v": 3}, now=100.0, reserved={"q": 4, "v": 4})
    assert len(decided.released) == 12  # 16 free, 4 kept; "v": fewer free than kept, none
    solo = [job(f"u{i}", 200.0 + i) for i in range(4)]
    again = plan([*batch[12:], *solo], {}, {"q": 4}, now=300.0, reserved={"q": 4})
    assert again.released == solo  # the kept four go to interactive jobs, none to the batch


def test_interactive_jobs_use_up_the_reserve_first_then_the_batch_gets_the_rest():
    batch = [job("team", float(i), tier="batch") for i in range(10)]
    solo = [job("a", 50.0), job("b", 51.0)]
    order = plan([*batch, *solo], {}, {"q": 8}, now=100.0, reserved={"q": 4}).released
    # 8 free: 2 interactive, then the batch may fill what leaves 4 free (2 more of 6 left)
    assert order[:2] == solo and [j.tier for j in order[2:]] == ["batch"] * 2


def test_fifo_knows_no_tiers_and_reserves_nothing():
    batch = [job("team", float(i), tier="batch") for i in range(10)]
    order = plan_by("fifo", batch, {}, {"q": 8}, 100.0, reserved={"q": 4}).released
    assert len(order) == 8


def test_no_free_slot_for_a_model_keeps_its_jobs_and_shares_unchanged():
    stuck = job("a", 0.0, model="video")
    ok = job("b", 1.0, model="image")
    decided = plan([stuck, ok], {}, {"image": 1}, now=10.0)
    assert decided.released == [ok]
    assert ("interactive", "a") not in decided.shares  # no quantum for a blocked user


def test_slots_limit_a_pass_and_a_cut_turn_goes_on_without_a_second_quantum():
    jobs = [job("a", float(i), cost=1.0) for i in range(4)] + [job("b", 9.0, cost=4.0)]
    # both are new: a goes first (its oldest job is older)
    first = plan(jobs, {}, {"q": 2}, now=10.0)
    assert users(first.released) == ["a", "a"]
    share = first.shares[("interactive", "a")]
    assert share.turn_open and share.deficit == 2.0  # quantum 4 - two jobs of 1
    rest = [j for j in jobs if j not in first.released]
    second = plan(rest, first.shares, {"q": 3}, now=11.0)
    assert users(second.released) == ["a", "a", "b"]  # a's turn ends, then b's


def test_the_ring_remembers_who_was_served_last():
    a = [job("a", float(i)) for i in range(3)]
    b = [job("b", 5.0 + i) for i in range(3)]
    shares = {("interactive", "a"): Share(0.0, False, served=50.0)}  # a just had a turn
    order = plan([*a, *b], shares, {"q": 1}, now=100.0).released
    assert users(order) == ["b"]


def test_an_emptied_queue_forgets_its_share():
    decided = plan([job("a", 0.0)], {("interactive", "a"): Share(3.0, True, 1.0)}, None, 5.0)
    assert ("interactive", "a") in decided.emptied
    assert ("interactive", "a") not in decided.shares


def test_job_cost_is_images_frames_steps_and_megapixels():
    assert job_cost(2, None, 4, 1000, 500) == 4.0
    assert job_cost(1, 16, 2, 500, 500) == 8.0


def test_fifo_releases_by_age_only_whatever_the_tier_or_user():
    backlog = [job("heavy", float(i), tier="batch") for i in range(5)]
    light = job("light", 2.5)
    other = job("x", 0.5, model="full")
    decided = plan_by("fifo", [light, *backlog, other], {}, {"q": 4}, now=10.0)
    assert [j.enqueued_at for j in decided.released] == [0.0, 1.0, 2.0, 2.5]
    assert not decided.shares and not decided.emptied  # shares are the fair policy's
    # the fair policy puts the interactive job first
    assert plan_by("fair", [light, *backlog], {}, {"q": 4}, now=10.0).released[0] is light
