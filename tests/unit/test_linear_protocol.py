"""LinearTracker offers the Tracker protocol with the same signatures, sync and async alike."""

from __future__ import annotations

import inspect

from engine.trackers.base import Tracker
from engine.trackers.linear.tracker import LinearTracker


def _public(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in vars(cls).items()
        if callable(member) and not name.startswith("_")
    }


def test_linear_tracker_has_every_protocol_method_with_its_signature() -> None:
    ours = _public(LinearTracker)
    for name, signature in _public(Tracker).items():
        assert name in ours, name
        assert list(signature.parameters) == list(ours[name].parameters), name


def test_each_network_method_has_an_async_twin_with_the_same_parameters() -> None:
    ours = _public(LinearTracker)
    for name in ("import_issues", "create_issue", "set_state", "comment", "sync", "add_edge"):
        twin = ours[f"{name}_async"]
        assert inspect.iscoroutinefunction(getattr(LinearTracker, f"{name}_async"))
        assert list(twin.parameters) == list(ours[name].parameters)
