"""`server.backoff.Backoff`: the doubling, capped delays every retry loop waits (pure arithmetic)."""

from __future__ import annotations

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
