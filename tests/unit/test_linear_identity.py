"""Derived ids and the description footer: how a re-run recognises its own issues."""

from __future__ import annotations

import uuid

from engine.issue import IssueDraft
from engine.trackers.linear import identity


def test_derived_ids_are_stable_valid_v4_uuids_and_scoped() -> None:
    first = identity.issue_id("team", "project", "auth/login")
    assert first == identity.issue_id("team", "project", "auth/login")
    assert uuid.UUID(first).version == 4
    assert first != identity.issue_id("team", "other project", "auth/login")
    assert identity.relation_id("a", "b") != identity.relation_id("b", "a")


def test_description_round_trips_key_kind_and_acceptance() -> None:
    draft = IssueDraft(
        key="auth/login v2",
        title="Log in",
        description="Users log in.\n\nWith email.",
        acceptance=("a form", "an error on a wrong password"),
        kind="meta",
    )
    parsed = identity.parse_description(identity.render_description(draft))
    assert parsed.key == "auth/login v2"
    assert parsed.kind == "meta"
    assert parsed.description == "Users log in.\n\nWith email."
    assert parsed.acceptance == draft.acceptance


def test_ticked_boxes_still_parse() -> None:
    text = identity.render_description(IssueDraft("k", "t", acceptance=("one",)))
    parsed = identity.parse_description(text.replace("- [ ]", "- [x]"))
    assert parsed.acceptance == ("one",)


def test_a_hand_written_description_comes_back_unchanged() -> None:
    text = "Made in Linear.\n\n**Acceptance**\n- [ ] stays text without our footer"
    parsed = identity.parse_description(text)
    assert parsed.key == ""
    assert parsed.description == text
    assert identity.parse_description(None).description == ""
