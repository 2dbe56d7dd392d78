"""Fixtures the Linear integration tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.linear_server import FakeLinear


@pytest.fixture
def linear_two_teams() -> Iterator[FakeLinear]:
    """The fake Linear on 127.0.0.1 with teams ENG and OPS."""
    with FakeLinear() as linear:
        linear.add_team("ENG", "Engineering")
        linear.add_team("OPS", "Operations")
        yield linear
