"""The circuit breaker and the budgets: should the next phase run at all?

Both are pure functions over the durable run records (engine.records), never over a counter
kept in memory or in a model's context: a marathon killed with SIGKILL and restarted still
knows how often a phase has failed and how much has been spent.

Defaults are the seed tool's: attempts per phase (verify 3, plan 3, code 3, test 5, qa 5,
anything else 3), 5 failures per issue, 5 failures in a row anywhere, the same error 3 times.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from engine.errors import MarathonError, did_you_mean
from engine.records import RunRecord

# -- error signatures ------------------------------------------------------------------------

# Order matters: compound tokens (timestamps, uuids, paths) are replaced before the bare
# numbers inside them would be.
_SUBSTITUTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    # 2026-11-25T22:45:50.123Z, 2026-11-25 22:45:50,123 +00:00
    (
        re.compile(
            r"\d{4}-\d{2}-\d{2}[T ]\d{1,2}:\d{2}(:\d{2}([.,]\d+)?)?"
            r"(Z|\s?[+-]\d{2}:?\d{2})?"
        ),
        "<time>",
    ),
    (re.compile(r"\b\d{4}[-/]\d{2}[-/]\d{2}\b"), "<date>"),
    (re.compile(r"\b\d{1,2}:\d{2}:\d{2}([.,]\d+)?\b"), "<time>"),
    # uuids, 0x addresses, and hex runs long enough to be ids (git shas, object ids)
    (
        re.compile(
            r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
            r"[0-9a-fA-F]{12}\b"
        ),
        "<id>",
    ),
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "<hex>"),
    (re.compile(r"\b(?=[0-9a-fA-F]*[0-9])(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{7,}\b"), "<hex>"),
    # durations: 1.5s, 250ms, 3 seconds, 2m30s, in 0.52s
    (
        re.compile(
            r"\b\d+(\.\d+)?\s?(ns|us|µs|ms|s|sec|secs|seconds?|m|min|mins|minutes?|h|"
            r"hours?)\b(\s?\d+(\.\d+)?\s?(ms|s|sec|seconds?))?",
            re.IGNORECASE,
        ),
        "<dur>",
    ),
    # paths: keep the file name (which file failed is part of the error) but drop the
    # directories, which differ between checkouts, worktrees and temporary directories.
    (re.compile(r"(?:[A-Za-z]:\\|\\\\|~?/|\.{1,2}/)?(?:[\w.@+-]+[/\\])+(?=[\w.@+-]+)"), "<dir>/"),
    # file.py:12:5 / line 12, column 5
    (re.compile(r":\d+:\d+\b"), ":<line>:<col>"),
    (re.compile(r":\d+\b"), ":<line>"),
    (re.compile(r"\b(line|lineno|ln)\s*(\d+)", re.IGNORECASE), r"\1 <line>"),
    (re.compile(r"\b(column|col)\s*(\d+)", re.IGNORECASE), r"\1 <col>"),
    (re.compile(r"\d+(\.\d+)?"), "<n>"),
)


def normalise_error(text: str) -> str:
    """`text` with everything that changes between two runs of the same failure replaced."""
    for pattern, replacement in _SUBSTITUTIONS:
        text = pattern.sub(replacement, text)
    return " ".join(text.split())


def error_signature(text: str) -> str:
    """A short stable id for an error: equal for the same failure seen twice, "" for no text."""
    normalised = normalise_error(text)
    if not normalised:
        return ""
    return hashlib.sha256(normalised.encode()).hexdigest()[:16]


# -- the circuit breaker ---------------------------------------------------------------------

DEFAULT_ATTEMPTS: Mapping[str, int] = {"verify": 3, "plan": 3, "code": 3, "test": 5, "qa": 5}


@dataclass(frozen=True)
class BreakerLimits:
    """When to stop retrying. A limit of 0 switches that rule off."""

    attempts: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_ATTEMPTS))
    default_attempts: int = 3  # phases not named in `attempts`
    per_issue: int = 5  # failed runs of one issue, all phases together
    consecutive_failures: int = 5  # failed runs in a row, any issue: something systemic
    same_error: int = 3  # the same error signature in a row for one issue

    def attempts_for(self, phase: str) -> int:
        return self.attempts.get(phase, self.default_attempts)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], where: str = "breaker") -> BreakerLimits:
        """Limits from marathon.yaml; unspecified keys keep the defaults."""
        known = {f.name for f in fields(cls)}
        for key, value in data.items():
            if key not in known:
                raise MarathonError(
                    f"unknown setting '{key}'" + did_you_mean(key, sorted(known)), where=where
                )
            if key == "attempts":
                if not isinstance(value, Mapping) or not all(_is_count(v) for v in value.values()):
                    raise MarathonError(
                        "expected a mapping of phase -> whole number >= 0",
                        where=f"{where}.attempts",
                    )
            elif not _is_count(value):
                raise MarathonError(
                    f"expected a whole number >= 0, got {value!r}", where=f"{where}.{key}"
                )
        attempts = {**DEFAULT_ATTEMPTS, **dict(data.get("attempts", {}))}
        return cls(**{**dict(data), "attempts": attempts})


@dataclass(frozen=True)
class Decision:
    allow: bool
    reason: str = ""  # why not, as a sentence; "" when allowed

    @classmethod
    def skip(cls, reason: str) -> Decision:
        return cls(allow=False, reason=reason)


ALLOW = Decision(allow=True)


def decide(
    limits: BreakerLimits, runs: list[RunRecord], issue: str, phase: str, *, since: float = 0.0
) -> Decision:
    """May `phase` of `issue` start (again)? `issue` is "" for a VERIFY check (`phase` = check).

    `runs` are the durable records; runs that started before `since` are ignored, which is how
    a user's reset (or a reopened issue) gives an issue a fresh start.
    """
    finished = [
        r
        for r in sorted(runs, key=lambda r: r.id)
        if r.started >= since and r.status not in ("running", "skipped")
    ]

    limit_key = phase if issue else "verify"
    attempts = limits.attempts_for(limit_key)
    phase_runs = [r for r in finished if r.issue == issue and r.phase == phase]
    failed_in_a_row = _trailing_failures(phase_runs)
    if attempts and len(failed_in_a_row) >= attempts:
        what = f"{issue} {phase}" if issue else f"check {phase}"
        return Decision.skip(
            f"{what} failed {len(failed_in_a_row)} times in a row (limit "
            f"{attempts}); last error: {_last_error(failed_in_a_row)}"
        )

    if issue and limits.per_issue:
        issue_failures = [r for r in finished if r.issue == issue and r.status == "failed"]
        if len(issue_failures) >= limits.per_issue:
            return Decision.skip(
                f"{issue} has failed {len(issue_failures)} runs (limit "
                f"{limits.per_issue} per issue); last error: "
                f"{_last_error(issue_failures)}"
            )

    if limits.consecutive_failures:
        # Agent phases and checks fail for different reasons: a failing check (the code is
        # broken) says nothing about the agents, and the other way round.
        streak = _trailing_failures([r for r in finished if bool(r.issue) == bool(issue)])
        if len(streak) >= limits.consecutive_failures:
            return Decision.skip(
                f"the last {len(streak)} runs all failed (limit "
                f"{limits.consecutive_failures} in a row), which points at "
                f"something systemic; last error: {_last_error(streak)}"
            )

    if limits.same_error:
        issue_failures = [r for r in finished if r.issue == issue and r.status == "failed"]
        repeated = _trailing_same_signature(issue_failures)
        if len(repeated) >= limits.same_error:
            where = issue or f"check {phase}"
            return Decision.skip(
                f"{where} hit the same error {len(repeated)} times in a row "
                f"(limit {limits.same_error}): {_last_error(repeated)}"
            )
    return ALLOW


def _trailing_failures(runs: list[RunRecord]) -> list[RunRecord]:
    """The failures at the end of `runs` since its last success (interruptions don't count)."""
    streak: list[RunRecord] = []
    for run in reversed(runs):
        if run.status == "success":
            break
        if run.status == "failed":
            streak.append(run)
    return streak


def _trailing_same_signature(failures: list[RunRecord]) -> list[RunRecord]:
    if not failures:
        return []
    last = _signature(failures[-1])
    if not last:
        return []
    repeated: list[RunRecord] = []
    for run in reversed(failures):
        if _signature(run) != last:
            break
        repeated.append(run)
    return repeated


def _signature(run: RunRecord) -> str:
    if run.signature.startswith(TRANSIENT_SIGNATURE):
        return f"{run.signature}:{run.id}"  # a transient error never repeats "the same error"
    return run.signature or error_signature(run.error)


TRANSIENT_SIGNATURE = "transient"


def _last_error(runs: list[RunRecord]) -> str:
    latest = max(runs, key=lambda r: r.id)
    text = " ".join(latest.error.split())
    if not text:
        return f"(none recorded, exit status {latest.exit_code})"
    return text if len(text) <= 160 else text[:157] + "..."


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


# -- budgets ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Budgets:
    """Spending limits; None means no limit. Turns are the agent's own count (claude num_turns)."""

    phase_cost_usd: float | None = None  # one phase of one issue, all its attempts together
    phase_turns: int | None = None
    issue_cost_usd: float | None = None  # every phase of one issue
    issue_turns: int | None = None
    marathon_cost_usd: float | None = None  # every run passed in
    marathon_turns: int | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], where: str = "budgets") -> Budgets:
        """From marathon.yaml's `budgets: {phase: {max_cost_usd, max_turns}, issue: ..., ...}`."""
        values: dict[str, Any] = {}
        for scope, limits in data.items():
            if scope not in ("phase", "issue", "marathon"):
                raise MarathonError(
                    f"unknown budget scope '{scope}'"
                    + did_you_mean(scope, ("phase", "issue", "marathon")),
                    where=where,
                )
            if not isinstance(limits, Mapping):
                raise MarathonError(
                    "expected {max_cost_usd: ..., max_turns: ...}", where=f"{where}.{scope}"
                )
            for key, value in limits.items():
                if key == "max_cost_usd" and _is_amount(value):
                    values[f"{scope}_cost_usd"] = float(value)
                elif key == "max_turns" and _is_count(value):
                    values[f"{scope}_turns"] = value
                elif key in ("max_cost_usd", "max_turns"):
                    raise MarathonError(
                        f"expected a number >= 0, got {value!r}", where=f"{where}.{scope}.{key}"
                    )
                else:
                    raise MarathonError(
                        f"unknown budget '{key}' (expected max_cost_usd or max_turns)",
                        where=f"{where}.{scope}",
                    )
        return cls(**values)


@dataclass(frozen=True)
class Spend:
    cost_usd: float
    turns: int


def spent(runs: Iterable[RunRecord], issue: str | None = None, phase: str | None = None) -> Spend:
    """What the matching runs cost so far (every attempt, failed ones too)."""
    cost = 0.0
    turns = 0
    for run in runs:
        if issue is not None and run.issue != issue:
            continue
        if phase is not None and run.phase != phase:
            continue
        cost += run.cost_usd or 0.0
        turns += run.turns or 0
    return Spend(cost, turns)


def check_budget(budgets: Budgets, runs: list[RunRecord], issue: str, phase: str) -> str | None:
    """The message saying which limit is reached, or None when `phase` of `issue` may start.

    Checked before a phase starts, so a limit stops new phases; the run that crossed it
    finishes. `runs` should be the runs of the current marathon for the marathon-wide limits.
    """
    scopes = (
        (
            budgets.phase_cost_usd,
            budgets.phase_turns,
            spent(runs, issue, phase),
            f"{issue} {phase}",
            "phase",
        ),
        (budgets.issue_cost_usd, budgets.issue_turns, spent(runs, issue), issue, "issue"),
        (
            budgets.marathon_cost_usd,
            budgets.marathon_turns,
            spent(runs),
            "this marathon",
            "marathon",
        ),
    )
    for max_cost, max_turns, so_far, who, scope in scopes:
        if max_cost is not None and so_far.cost_usd >= max_cost:
            return (
                f"budget reached: {who} has spent ${so_far.cost_usd:.2f} of its "
                f"${max_cost:.2f} (budgets.{scope}.max_cost_usd); no new phases start"
            )
        if max_turns is not None and so_far.turns >= max_turns:
            return (
                f"budget reached: {who} has used {so_far.turns} of its {max_turns} turns "
                f"(budgets.{scope}.max_turns); no new phases start"
            )
    return None


def _is_amount(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
