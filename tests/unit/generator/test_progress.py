import asyncio

from sorami_generator.progress import (
    STEPS_CEILING,
    ProgressReporter,
    ProgressThrottle,
    step_percent,
)


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


async def test_reporter_publishes_in_order_from_another_thread_and_survives_publish_errors():
    seen: list[int] = []

    async def publish(percent, step, total):
        if percent == 47:
            raise RuntimeError("broker hiccup")
        seen.append(percent)

    loop = asyncio.get_running_loop()
    reporter = ProgressReporter(publish, loop, min_interval=0.0)
    reporter.report(0, force=True)

    def steps():
        for s in range(1, 5):
            reporter.report_from_thread(s, 4)

    await asyncio.to_thread(steps)
    await asyncio.sleep(0.05)
    await reporter.close()
    assert seen == [0, 23, 71, 95]
