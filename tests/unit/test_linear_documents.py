"""Every GraphQL document the engine can send validates against Linear's published schema."""

from __future__ import annotations

import math
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


# The page sizes the engine sends with each document (see engine/trackers/linear/remote.py).
_SENT = {
    "PROJECT_ISSUES": {"first": documents.PAGE_SIZE, "relFirst": documents.RELATION_PAGE},
    "TEAM_ISSUES": {"first": documents.PAGE_SIZE, "relFirst": documents.RELATION_PAGE},
}
_LIST_ITEMS = 50  # a plain list in an answer (issueBatchCreate.issues) holds at most a batch


def _complexity(document: graphql.DocumentNode, variables: dict[str, int]) -> float:
    """Linear's published scoring: a scalar 0.1, an object 1, and a connection multiplies what
    it selects by its `first` (50 when absent), rounded up."""
    schema = linear_schema()
    fragments = {
        d.name.value: d
        for d in document.definitions
        if isinstance(d, graphql.FragmentDefinitionNode)
    }

    def first_of(field: graphql.FieldNode) -> int:
        for argument in field.arguments or ():
            if argument.name.value != "first":
                continue
            value = argument.value
            if isinstance(value, graphql.VariableNode):
                return variables[value.name.value]
            assert isinstance(value, graphql.IntValueNode)
            return int(value.value)
        return 50

    def cost(selections: graphql.SelectionSetNode, parent: graphql.GraphQLObjectType) -> float:
        # A connection's `nodes` list is what its `first` counts: no second multiplier there.
        in_connection = parent.name.endswith("Connection")
        total = 0.0
        for selection in selections.selections:
            if isinstance(selection, graphql.FragmentSpreadNode):
                total += cost(fragments[selection.name.value].selection_set, parent)
                continue
            assert isinstance(selection, graphql.FieldNode)
            if selection.name.value == "__typename":
                continue
            field = parent.fields[selection.name.value]
            named = graphql.get_named_type(field.type)
            if selection.selection_set is None:
                total += 0.1
                continue
            assert isinstance(named, graphql.GraphQLObjectType)
            inner = cost(selection.selection_set, named)
            if named.name.endswith("Connection"):
                total += 1 + math.ceil(first_of(selection) * inner)
            elif not in_connection and isinstance(
                graphql.get_nullable_type(field.type), graphql.GraphQLList
            ):
                total += _LIST_ITEMS * (1 + inner)
            else:
                total += 1 + inner
        return total

    total = 0.0
    for definition in document.definitions:
        if isinstance(definition, graphql.OperationDefinitionNode):
            root = schema.get_root_type(definition.operation)
            assert root is not None
            total += cost(definition.selection_set, root)
    return total


@pytest.mark.parametrize("name", sorted(documents.ALL))
def test_document_stays_under_linears_complexity_limit(name: str) -> None:
    variables = {"first": documents.MAX_FIRST, "relFirst": documents.RELATION_PAGE}
    variables.update(_SENT.get(name, {}))
    points = _complexity(graphql.parse(documents.ALL[name]), variables)
    assert points <= documents.MAX_COMPLEXITY, f"{name}: {points:.0f} points"
