"""`server.backoff.Backoff`: the doubling, capped delays every retry loop waits (pure arithmetic)."""

from __future__ import annotations

import pytest

from server.backoff import Backoff


def test_delays_double_from_the_first_up_to_the_most() -> None:
    backoff = Backoff(0.1, 5.0)
    assert [backoff.step() for _ in range(9)] == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0]
    assert backoff.failures == 9


def test_a_success_starts_again_from_the_first() -> None:
    backoff = Backoff(1, 60)
    for _ in range(3):
        backoff.step()
    assert backoff.delay == 8
    backoff.reset()
    assert (backoff.delay, backoff.step(), backoff.delay) == (1, 1, 2)


def test_the_delay_after_a_number_of_failures() -> None:
    # The coalescer's: the push interval after none, doubling to its cap, in whole milliseconds.
    backoff = Backoff(250, 30_000)
    assert [backoff.after(n) for n in (0, 1, 2, 6, 7, 100, 10**6)] == [
        250,
        500,
        1000,
        16_000,
        30_000,
        30_000,
        30_000,
    ]
    assert isinstance(backoff.after(3), int)


def test_a_first_delay_longer_than_the_most_is_never_shortened() -> None:
    # A push interval longer than the cap: retries wait the interval, never less.
    backoff = Backoff(60_000, 30_000)
    assert [backoff.after(n) for n in range(4)] == [60_000] * 4


def test_jitter_draws_each_step_between_its_share_of_the_delay_and_the_delay() -> None:
    # The hub's bus: many nodes reconnecting to one Redis must not come back in step.
    draws = iter([0.0, 0.5, 0.999, 0.25])
    backoff = Backoff(1, 4, jitter=0.5, uniform=lambda: next(draws))
    assert [backoff.step() for _ in range(4)] == [1.0, 1.5, pytest.approx(2.002), 3.5]
    assert backoff.delay == 4  # the undrawn delay: jitter only shortens what `step` returns
    assert [backoff.after(n) for n in range(4)] == [1, 2, 4, 4]


def test_jitter_is_off_by_default_and_a_fraction() -> None:
    backoff = Backoff(0.05, 5.0, uniform=lambda: 0.9)
    assert [backoff.step() for _ in range(3)] == [0.05, 0.1, 0.2]
    for jitter in (-0.1, 1.5):
        with pytest.raises(ValueError, match="jitter"):
            Backoff(1, 2, jitter=jitter)
