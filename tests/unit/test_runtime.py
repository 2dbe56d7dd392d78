"""engine.run.runtime: what one doit process remembers between its tasks."""

from __future__ import annotations

from pathlib import Path

from engine.run.runtime import CleanBoundaries

WT = Path("/ws/.marathon/worktrees/PROJ-1")


def test_a_phase_starts_clean_only_where_the_last_one_left_it_clean_on_that_head() -> None:
    seen = CleanBoundaries()
    with seen.phase(WT, "a") as clean:
        assert not clean  # nothing known yet
        seen.seen_clean(WT, "b", token=seen.alone(WT))
    with seen.phase(WT, "c") as clean:
        assert not clean  # HEAD moved since (a rebase, a merge): known no more
    with seen.phase(WT, "c") as clean:
        assert not clean  # and forgotten once asked
    with seen.phase(WT, "c") as clean:
        seen.seen_clean(WT, "c", token=seen.alone(WT))
    with seen.phase(WT, "c") as clean:
        assert clean
    with seen.phase(WT, "c") as clean:
        assert not clean  # the phase before may have left anything: asked once only
    with seen.phase(WT.with_name("PROJ-2"), "c") as clean:
        assert not clean  # another issue's worktree


def test_a_phase_beside_another_learns_nothing_and_teaches_nothing() -> None:
    """TEST and QA in one worktree: one's status may miss what the other is writing."""
    seen = CleanBoundaries()
    with seen.phase(WT, "h"):
        seen.seen_clean(WT, "h", token=seen.alone(WT))
    with seen.phase(WT, "h") as test_clean, seen.phase(WT, "h") as qa_clean:
        assert test_clean and not qa_clean  # the first takes it; the second runs beside it
        seen.seen_clean(WT, "h", token=seen.alone(WT))  # two running: not kept
    with seen.phase(WT, "h") as clean:
        assert not clean
    # One that started and ended between a phase's status and its commit (a QA that failed
    # at once, leaving files) makes that status stale: not kept.
    with seen.phase(WT, "h"):
        token = seen.alone(WT)
        with seen.phase(WT, "h"):
            pass
        seen.seen_clean(WT, "h", token=token)
    with seen.phase(WT, "h") as clean:
        assert not clean


def test_a_status_taken_beside_another_phase_stays_unsure_after_that_one_ends() -> None:
    """TEST's status is taken while QA runs; QA then writes a file, is refused and ends before
    TEST commits. When TEST records its end, it runs alone and nothing started since its
    status, yet that status missed QA's file: not kept (a review found this interleaving)."""
    seen = CleanBoundaries()
    qa = seen.phase(WT, "h")
    with seen.phase(WT, "h"):
        qa.__enter__()
        token = seen.alone(WT)  # TEST's status, QA still running
        qa.__exit__(None, None, None)  # QA ends, its file left behind
        seen.seen_clean(WT, "h", token=token)
    with seen.phase(WT, "h") as clean:
        assert not clean


def test_a_worktree_just_made_starts_clean_unless_a_phase_started_there_since() -> None:
    seen = CleanBoundaries()
    made_at = seen.starts(WT)
    with seen.phase(WT, "t", made_at=made_at) as clean:
        assert clean
        with seen.phase(WT, "t", made_at=made_at) as beside:
            assert not beside  # a phase runs there already and may be writing
    # Made by one first phase, another first phase ran there whole before this one began.
    made_at = seen.starts(WT.with_name("PROJ-2"))
    with seen.phase(WT.with_name("PROJ-2"), "t"):
        pass
    with seen.phase(WT.with_name("PROJ-2"), "t", made_at=made_at) as clean:
        assert not clean
