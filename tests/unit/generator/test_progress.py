import asyncio
import time
import uuid

from sorami_generator.progress import (
    STEPS_CEILING,
    ProgressHub,
    ProgressReporter,
    ProgressThrottle,
    min_delta_for,
    step_percent,
)
from sorami_shared.events import Kind, ProgressEntry


def test_step_percent_rises_to_the_ceiling():
    assert [step_percent(s, 4) for s in range(5)] == [0, 23, 47, 71, STEPS_CEILING]
    assert step_percent(3, 0) == 0


def test_throttle_lets_through_rising_percent_at_most_once_per_interval():
    now = [0.0]
    t = ProgressThrottle(0.25, clock=lambda: now[0])
    assert t.offer(0, force=True)
    assert not t.offer(0)  # not rising
    now[0] = 0.1
    assert not t.offer(10)  # too soon
    now[0] = 0.3
    assert t.offer(20)
    assert not t.offer(15)
    now[0] = 0.31
    assert t.offer(30, force=True)


def entry_of(job_id):
    def entry(percent, step, total):
        return ProgressEntry(
            job_id=job_id, user_id="u", kind=Kind.IMAGE, progress=percent, step=step,
            total_steps=total,
        )  # fmt: skip

    return entry


async def test_reporter_publishes_in_order_from_another_thread_and_survives_publish_errors():
    seen: list[int] = []

    async def send(entries):
        if entries[0].progress == 47:
            raise RuntimeError("broker hiccup")
        seen.extend(e.progress for e in entries)

    loop = asyncio.get_running_loop()
    hub = ProgressHub(send)
    reporter = ProgressReporter(hub, entry_of(uuid.uuid4()), loop, min_interval=0.0)
    reporter.report(0, force=True)
    await reporter.close()

    def steps():
        for s in range(1, 5):
            reporter.report_from_thread(s, 4)
            time.sleep(0.02)  # each step its own message

    await asyncio.to_thread(steps)
    await asyncio.sleep(0.05)
    await reporter.close()
    assert seen == [0, 23, 71, 95]


async def test_one_message_per_batch_step_whatever_the_batch_size():
    sent: list[list[ProgressEntry]] = []

    async def send(entries):
        await asyncio.sleep(0.01)  # the broker's confirm
        sent.append(entries)

    loop = asyncio.get_running_loop()
    hub = ProgressHub(send)
    jobs = [uuid.uuid4() for _ in range(64)]
    reporters = [ProgressReporter(hub, entry_of(j), loop, min_interval=0.0) for j in jobs]

    def batch_steps():  # the runner's step callback: every job of the batch, per step
        for s in range(0, 5):
            for r in reporters:
                r.report_from_thread(s, 4)
            time.sleep(0.05)

    await asyncio.to_thread(batch_steps)
    for r in reporters:
        await r.close()
    assert len(sent) == 5 and all(len(m) == 64 for m in sent)
    for job in jobs:
        mine = [e.progress for m in sent for e in m if e.job_id == job]
        assert mine == [0, 23, 47, 71, 95]


async def test_a_job_sends_a_bounded_number_of_events_whatever_its_steps():
    sent: list[int] = []

    async def send(entries):
        sent.extend(e.progress for e in entries)

    loop = asyncio.get_running_loop()
    hub = ProgressHub(send)
    reporter = ProgressReporter(
        hub, entry_of(uuid.uuid4()), loop, min_interval=0.0, min_delta=min_delta_for(5)
    )
    reporter.report(0, 0, 200)
    for s in range(1, 201):
        reporter.report(step_percent(s, 200), s, 200)
    await reporter.close()
    assert sent[0] == 0 and sent == sorted(set(sent)) and len(sent) <= 6
    assert sent[-1] >= STEPS_CEILING - min_delta_for(5)


async def test_a_terminal_waits_for_its_jobs_progress_and_a_dropped_job_sends_nothing():
    release = asyncio.Event()
    sent: list[uuid.UUID] = []

    async def send(entries):
        await release.wait()
        sent.extend(e.job_id for e in entries)

    loop = asyncio.get_running_loop()
    hub = ProgressHub(send)
    a, b = uuid.uuid4(), uuid.uuid4()
    ra = ProgressReporter(hub, entry_of(a), loop, min_interval=0.0)
    ra.report(0)
    await asyncio.sleep(0.01)  # a's entry in flight
    rb = ProgressReporter(hub, entry_of(b), loop, min_interval=0.0)
    rb.report(0)
    flushed = asyncio.create_task(ra.close())
    await asyncio.sleep(0.05)
    assert not flushed.done()  # its message is not confirmed yet
    rb.cancel()  # b ended (cancelled) before its entry went
    release.set()
    await flushed
    await rb.close()  # nothing of b's left to wait for
    assert sent == [a]


async def test_a_start_is_held_and_a_job_ending_within_it_sends_no_progress():
    sent: list[tuple[uuid.UUID, int]] = []

    async def send(entries):
        sent.extend((e.job_id, e.progress) for e in entries)

    loop = asyncio.get_running_loop()
    hub = ProgressHub(send)
    quick, slow, stepping = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    reporters = {
        j: ProgressReporter(hub, entry_of(j), loop, min_interval=0.0, start_delay=0.2)
        for j in (quick, slow, stepping)
    }
    for r in reporters.values():
        r.report(0, 0, 4)
    await asyncio.sleep(0.05)
    assert sent == []  # every start still held
    await reporters[quick].close()  # ends within the delay: its start never goes
    reporters[stepping].report(23, 1, 4)  # a later step first: the start goes before it
    await reporters[stepping].close()
    assert sent == [(stepping, 0), (stepping, 23)]
    await asyncio.sleep(0.25)  # the slow job's delay is over: its start goes by itself
    await reporters[slow].close()
    assert sent == [(stepping, 0), (stepping, 23), (slow, 0)]
    assert reporters[quick].published == [] and reporters[slow].published == [0]
