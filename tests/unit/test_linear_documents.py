"""Every GraphQL document the engine can send validates against Linear's published schema."""

from __future__ import annotations

import re

import graphql
import pytest

from engine.trackers.linear import documents
from tests.fakes.linear_server import linear_schema


@pytest.mark.parametrize("name", sorted(documents.ALL))
def test_document_is_valid_for_linear(name: str) -> None:
    document = graphql.parse(documents.ALL[name])
    errors = graphql.validate(linear_schema(), document)
    assert not errors, [error.message for error in errors]


def test_every_document_in_the_module_is_listed() -> None:
    sent = {
        name
        for name, value in vars(documents).items()
        if isinstance(value, str) and re.search(r"\b(query|mutation)\s+\w+", value)
    }
    assert sent == set(documents.ALL)


def test_literal_page_sizes_stay_within_linears_maximum() -> None:
    for text in documents.ALL.values():
        for size in re.findall(r"first:\s*(\d+)", text):
            assert int(size) <= documents.MAX_FIRST
    assert documents.PAGE_SIZE <= documents.MAX_FIRST
    assert documents.RELATION_PAGE <= documents.MAX_FIRST


def test_relations_use_the_blocks_type_of_the_schema() -> None:
    relation_type = linear_schema().type_map["IssueRelationType"]
    assert "blocks" in relation_type.values  # type: ignore[attr-defined]


def test_the_fake_schema_is_linears_schema_without_its_descriptions() -> None:
    # The fake drops descriptions before parsing to build faster; nothing a query can use may go.
    from tests.fakes.linear_server import SCHEMA_PATH

    full = graphql.build_schema(SCHEMA_PATH.read_text(encoding="utf-8"), assume_valid=True)
    fast = linear_schema()

    def shape(schema: graphql.GraphQLSchema) -> dict[str, object]:
        found: dict[str, object] = {}
        for name, kind in schema.type_map.items():
            fields = getattr(kind, "fields", None) or {}
            found[name] = (
                type(kind).__name__,
                {
                    f: (
                        str(d.type),
                        sorted((a, str(v.type)) for a, v in getattr(d, "args", {}).items()),
                    )
                    for f, d in fields.items()
                },
                sorted(getattr(kind, "values", None) or {}),
            )
        return found

    assert shape(full) == shape(fast)
