"""Waiting for Linear: rate-limit headers in every documented form, and jittered backoff."""

from __future__ import annotations

import pytest

from engine.trackers.linear.retry import RetryPolicy, rate_limit_wait

NOW = 1_733_302_400.0  # seconds since the epoch


def test_retry_after_in_seconds_wins() -> None:
    headers = {"Retry-After": "3", "x-ratelimit-requests-reset": str(int((NOW + 60) * 1000))}
    assert rate_limit_wait(headers, NOW, fallback=9) == 3


def test_reset_in_epoch_milliseconds_as_linear_sends_it() -> None:
    headers = {
        "x-ratelimit-requests-remaining": "0",
        "x-ratelimit-requests-reset": str(int((NOW + 2.5) * 1000)),
    }
    assert rate_limit_wait(headers, NOW, fallback=9) == pytest.approx(2.5)


def test_reset_in_epoch_seconds_and_as_a_duration() -> None:
    assert rate_limit_wait({"x-ratelimit-requests-reset": str(NOW + 4)}, NOW, 9) == 4
    assert rate_limit_wait({"x-ratelimit-complexity-reset": "7"}, NOW, 9) == 7


def test_the_exhausted_bucket_decides() -> None:
    headers = {
        "x-ratelimit-requests-remaining": "100",
        "x-ratelimit-requests-reset": str(int((NOW + 50) * 1000)),
        "x-ratelimit-complexity-remaining": "0",
        "x-ratelimit-complexity-reset": str(int((NOW + 2) * 1000)),
    }
    assert rate_limit_wait(headers, NOW, fallback=9) == pytest.approx(2)


def test_no_usable_header_falls_back_and_past_resets_do_not_go_negative() -> None:
    assert rate_limit_wait({}, NOW, fallback=1.5) == 1.5
    assert rate_limit_wait({"retry-after": "soon"}, NOW, fallback=1.5) == 1.5
    assert rate_limit_wait({"x-ratelimit-requests-reset": str(int(NOW * 1000) - 5000)}, NOW, 1) == 0


def test_backoff_grows_exponentially_is_capped_and_jittered() -> None:
    top = RetryPolicy(base_delay=0.5, max_delay=8, rand=lambda: 1.0)
    assert [top.backoff(n) for n in range(6)] == [0.5, 1, 2, 4, 8, 8]
    low = RetryPolicy(base_delay=0.5, max_delay=8, rand=lambda: 0.25)
    assert low.backoff(2) == 0.5
