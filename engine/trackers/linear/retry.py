"""How long to wait before trying a Linear request again.

Two kinds of waiting: a rate limit says when it resets (we wait exactly that long, capped), and a
transient fault (5xx, dropped connection, timeout) gets exponential backoff with full jitter so that
many concurrent requests failing together do not retry together.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

# Reset headers come as seconds to wait, epoch seconds or epoch milliseconds (Linear sends the
# latter, e.g. x-ratelimit-requests-reset: 1733302464386). Values this large cannot be durations.
_EPOCH_SECONDS = 1_000_000_000
_EPOCH_MILLIS = 100_000_000_000

_RESET_HEADERS = (
    ("x-ratelimit-requests-remaining", "x-ratelimit-requests-reset"),
    ("x-ratelimit-complexity-remaining", "x-ratelimit-complexity-reset"),
    ("x-ratelimit-endpoint-requests-remaining", "x-ratelimit-endpoint-requests-reset"),
)


@dataclass(frozen=True)
class RetryPolicy:
    """Limits for one request. `max_attempts` counts the first try."""

    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_rate_limit_wait: float = 120.0  # longer than this: fail with the reset time instead
    rate_limit_fallback: float = 5.0  # a rate limit answer without usable headers
    rand: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max, base * 2**attempt)]; attempt counts from 0."""
        ceiling = min(self.max_delay, self.base_delay * (2**attempt))
        return ceiling * self.rand()


def _seconds_until(raw: str, now: float) -> float | None:
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    if value >= _EPOCH_MILLIS:
        return value / 1000.0 - now
    if value >= _EPOCH_SECONDS:
        return value - now
    return value


def rate_limit_wait(headers: Mapping[str, str], now: float, fallback: float) -> float:
    """Seconds until the limit that stopped us resets, from `retry-after` or `x-ratelimit-*-reset`.

    `retry-after` wins when present. Otherwise the reset of each exhausted bucket (remaining 0)
    counts; if no bucket says it is exhausted, the latest reset does. Never negative.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    if "retry-after" in lower:
        wait = _seconds_until(lower["retry-after"], now)
        if wait is not None:
            return max(0.0, wait)
    exhausted: list[float] = []
    any_reset: list[float] = []
    for remaining_name, reset_name in _RESET_HEADERS:
        if reset_name not in lower:
            continue
        wait = _seconds_until(lower[reset_name], now)
        if wait is None:
            continue
        any_reset.append(wait)
        if lower.get(remaining_name, "").strip() in ("0", "0.0"):
            exhausted.append(wait)
    chosen = exhausted or any_reset
    if not chosen:
        return fallback
    return max(0.0, max(chosen))
