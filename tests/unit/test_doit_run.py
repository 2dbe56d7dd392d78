"""The ready queue behind `doit run`: lowest rank first, doit's own order among equals."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from engine.doit_run import ReadyQueue


def node(name: str, rank: tuple | None = None) -> SimpleNamespace:
    meta = None if rank is None else {"rank": rank}
    return SimpleNamespace(task=SimpleNamespace(name=name, meta=meta))


def drain(queue: ReadyQueue) -> list[str]:
    out = []
    while queue:
        out.append(queue.popleft().task.name)
    return out


def test_lowest_rank_leaves_first() -> None:
    queue = ReadyQueue()
    for item in (
        node("late", (1, 3, -2.0)),
        node("bug", (0, 3, -1.0)),
        node("heavy", (1, 3, -9.0)),
    ):
        queue.append(item)
    assert len(queue) == 3
    assert drain(queue) == ["bug", "heavy", "late"]


def test_unranked_first_and_in_arrival_order() -> None:
    # Groups and other projects' tasks carry no rank: they keep doit's first-in first-out.
    queue = ReadyQueue()
    queue.append(node("ranked", (1, 3, -5.0)))
    queue.append(node("group-b"))
    queue.append(node("group-a"))
    queue.append(SimpleNamespace(task=SimpleNamespace(name="empty-meta", meta={})))
    assert drain(queue) == ["group-b", "group-a", "empty-meta", "ranked"]


def test_equal_ranks_keep_arrival_order() -> None:
    queue = ReadyQueue()
    for name in "cab":
        queue.append(node(name, (1, 3, -1.0)))
    assert drain(queue) == ["c", "a", "b"]
    with pytest.raises(IndexError):
        queue.popleft()
