"""Dependency edges between a spec's tasks, each with the reason it exists.

Rules, in order (an earlier rule wins over a later one):

1. Explicit markers. `depends="1,2"` on a step replaces "the previous step" for that step's
   tasks (`depends=""` makes it a root); `(after: ...)` in a bullet names a step
   (`after: 2`, `after: step 2`), a task id/key, or words of exactly one other task, and then
   defines that task's incoming edges alone.
2. Step order. Otherwise every task of a step depends on the tasks of the previous step.
3. Layers, inside a step: setup before the rest, database/model work before API work, API work
   before UI/CLI work.
4. Names, inside a step: a task that uses a name (`TodoItem`, `db.py`, `` `serve()` ``) that
   another task creates depends on it; `TodoList` is built from `TodoItem`; a "wire up /
   integrate / hook up ..." task comes after the rest of its step.

Rules 1-2 are what the author wrote, so a cycle among them is an error naming the cycle.
Rules 3-4 are guesses: an edge that would close a cycle is skipped. Finally the edge set is
transitively reduced (an edge implied by a longer path is dropped), which keeps the graph small:
a step's tasks end up depending only on the last tasks of the step before.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from engine.errors import MarathonError, did_you_mean
from engine.graph import cycle_in
from engine.issue import Edge, Issue, IssueDraft
from engine.spec.issues import PlannedTask, slug
from engine.spec.model import Spec

LAYER_REASON = {
    (0, 1): "setup before database work",
    (0, 2): "setup before API work",
    (0, 3): "setup before UI work",
    (1, 2): "database work before API work",
    (1, 3): "database work before UI work",
    (2, 3): "API work before UI work",
}
INTEGRATION = re.compile(
    r"^(?:then\s+|finally\s+)?(?:wire(?:\s+up)?|integrate|hook\s+up|connect|glue|tie|assemble)\b",
    re.IGNORECASE,
)
# Words after which the names in a task are things it uses, not things it creates.
CONNECTOR = re.compile(
    r"\b(?:using|uses|use|with|on top of|via|from|through|calls?|calling|backed by|renders?|"
    r"wraps?|around|for|that)\b",
    re.IGNORECASE,
)
# Bounded repeats keep the scan linear: with `[\w.-]+` every start inside a 50 000-letter word
# re-read the rest of it (quadratic); no real file or identifier part is longer than 64.
NAME = re.compile(
    r"`(?P<code>[^`\n]+)`"
    r"|(?P<path>(?:[\w.-]{1,64}/){0,16}[\w-]{1,64}\."
    r"(?:py|pyi|ts|tsx|js|jsx|sql|json|toml|yaml|yml|css|html|md|sh|go|rs))\b"
    r"|\b(?P<camel>[A-Z][a-z0-9]{1,64}(?:[A-Z][a-z0-9]{0,64}){1,16})\b"
    r"|\b(?P<dotted>[A-Za-z_]\w{1,64}(?:\.[A-Za-z_]\w{1,64}){1,16})\b"
)
CONTAINER_SUFFIXES = (
    "list",
    "table",
    "grid",
    "board",
    "page",
    "view",
    "panel",
    "collection",
    "feed",
)
ITEM_SUFFIXES = ("item", "row", "card", "cell", "entry", "tile")


def infer_edges(spec: Spec, planned: Sequence[PlannedTask]) -> list[Edge]:
    """Edges between draft keys, reduced, in a stable order (blocked task, then blocker)."""
    order = {item.key: i for i, item in enumerate(planned)}
    by_step: dict[int, list[PlannedTask]] = {}
    for item in planned:
        by_step.setdefault(item.step.number, []).append(item)
    prereqs = _step_prereqs(spec)
    edges = _EdgeSet()
    index = _RefIndex(planned)
    # 1. explicit (after: ...) markers
    for item in planned:
        for ref in item.after:
            for target in _resolve(spec, index, by_step, item, ref):
                edges.add(target.key, item.key, f"after: {ref}")
    _refuse_cycle(spec, planned, edges)
    # 3-4. guesses inside a step; an edge that would close a cycle is skipped
    for number in sorted(by_step):
        try:
            for blocker, blocked, reason in _within_step(by_step[number]):
                if blocked.after or edges.reaches(blocked.key, blocker.key):
                    continue
                edges.add(blocker.key, blocked.key, reason)
        except TooManyGuesses:
            step = by_step[number][0].step
            raise MarathonError(
                f"step {number} has more than {MAX_GUESSES} guessed dependencies between its "
                f"{len(by_step[number])} tasks; split it into smaller steps or mark the order "
                "with (after: ...) markers",
                where=spec.where(step.line),
            ) from None
    # 2. step order (or the step's explicit depends=). Linking to the previous step's exits
    # (tasks nothing else in that step waits for) is the same order as linking to all of its
    # tasks, without building edges that the reduction would throw away.
    exits = {number: _exits(items, edges) for number, items in by_step.items()}
    for item in planned:
        if item.after:
            continue
        for number, reason in prereqs[item.step.number]:
            for blocker in exits[number]:
                edges.add(blocker.key, item.key, reason)
    _refuse_cycle(spec, planned, edges)
    kept = edges.reduced(order)
    return sorted(kept, key=lambda e: (order[e.blocked], order[e.blocker]))


def _exits(items: list[PlannedTask], edges: _EdgeSet) -> list[PlannedTask]:
    inside = {item.key for item in items}
    return [
        item
        for item in items
        if not any(child in inside for child in edges.children.get(item.key, ()))
    ]


# -- step level --------------------------------------------------------------------------------


def _step_prereqs(spec: Spec) -> dict[int, list[tuple[int, str]]]:
    numbers = sorted(step.number for step in spec.steps)
    prereqs: dict[int, list[tuple[int, str]]] = {}
    for step in spec.steps:
        if step.depends is None:
            earlier = [n for n in numbers if n < step.number]
            prereqs[step.number] = (
                [(earlier[-1], f"step {earlier[-1]} before step {step.number}")] if earlier else []
            )
            continue
        found = []
        for number in sorted(set(step.depends)):
            if number == step.number:
                raise MarathonError(
                    f"step {number} depends on itself; remove {number} from its depends=",
                    where=spec.where(step.depends_line or step.line),
                )
            if spec.step(number) is None:
                raise MarathonError(
                    f"step {step.number} depends on step {number}, which does not exist "
                    f"(steps: {', '.join(map(str, numbers))})",
                    where=spec.where(step.depends_line or step.line),
                )
            found.append((number, f"step {step.number} depends on step {number}"))
        prereqs[step.number] = found
    cycle = cycle_in(
        [step.number for step in spec.steps],
        [(blocker, number) for number, items in prereqs.items() for blocker, _ in items],
    )
    if cycle:
        steps = {step.number: step for step in spec.steps}
        names_ = " → ".join(f'step {n} "{steps[n].title}"' for n in cycle)
        first = next((steps[n] for n in cycle if steps[n].depends is not None), steps[cycle[0]])
        raise MarathonError(
            f"dependency cycle between steps: {names_}; fix the depends= on these steps",
            where=spec.where(first.depends_line or first.line),
        )
    return prereqs


# -- (after: ...) references -----------------------------------------------------------------


class _RefIndex:
    """Tasks by key and by slug of their text, built once: resolving each (after: ...) by
    slugging every task again made n markers over n tasks cost n squared slugs."""

    def __init__(self, planned: Sequence[PlannedTask]) -> None:
        self.planned = planned
        self.exact: dict[str, list[PlannedTask]] = {}
        for item in planned:
            self.exact.setdefault(item.key, []).append(item)
            text_slug = slug(item.text)
            if text_slug != item.key:
                self.exact.setdefault(text_slug, []).append(item)
        self.order = {id(item): i for i, item in enumerate(planned)}
        self.lowered = [(item, item.text.lower()) for item in planned]


def _resolve(
    spec: Spec,
    index: _RefIndex,
    by_step: dict[int, list[PlannedTask]],
    item: PlannedTask,
    ref: str,
) -> list[PlannedTask]:
    step_ref = re.fullmatch(r"(?:step\s*)?(\d+)", ref.strip(), re.IGNORECASE)
    if step_ref:
        number = int(step_ref.group(1))
        if number not in by_step:
            raise MarathonError(
                f"(after: {ref}) names step {number}, which does not exist "
                f"(steps: {', '.join(map(str, sorted(by_step)))})",
                where=spec.where(item.line),
            )
        if number == item.step.number:
            raise MarathonError(
                f"(after: {ref}) names the task's own step; name a task of it instead",
                where=spec.where(item.line),
            )
        return by_step[number]
    wanted = slug(ref)
    exact = [o for o in index.exact.get(wanted, ()) if o is not item] if wanted else []
    if exact:
        return [min(exact, key=lambda o: index.order[id(o)])]
    words = ref.lower().strip()
    partial = [o for o, text in index.lowered if o is not item and words and words in text]
    if len(partial) == 1:
        return partial
    if len(partial) > 1:
        lines = ", ".join(str(o.line) for o in partial)
        raise MarathonError(
            f"(after: {ref}) matches {len(partial)} tasks (lines {lines}); use more words, "
            "a step number, or give the task an (id: ...)",
            where=spec.where(item.line),
        )
    if wanted == item.key or (words and words in item.text.lower()):
        raise MarathonError(f"(after: {ref}) names the task itself", where=spec.where(item.line))
    raise MarathonError(
        f"(after: {ref}) names no task or step"
        f"{did_you_mean(wanted, [o.key for o in index.planned if o is not item])}",
        where=spec.where(item.line),
    )


# -- guesses inside one step -----------------------------------------------------------------


MAX_GUESSES = 5000  # guessed pairs in one step; a real step has a few dozen


class TooManyGuesses(Exception):
    """A step whose heuristics would pair up more tasks than MAX_GUESSES."""


def _within_step(items: list[PlannedTask]) -> Iterable[tuple[PlannedTask, PlannedTask, str]]:
    """The guessed pairs of one step, in the order the all-pairs rules would give them.

    Indexes (by layer, by name made) visit only the pairs a rule can pick, so the cost follows
    the pairs found, not the square of the bullets; more than MAX_GUESSES pairs is refused.
    """
    for count, pair in enumerate(_guesses(items), start=1):
        if count > MAX_GUESSES:
            raise TooManyGuesses
        yield pair


def _guesses(items: list[PlannedTask]) -> Iterator[tuple[PlannedTask, PlannedTask, str]]:
    # Wiring tasks ("connect the editor to the API") are placed by the wiring rule below; as
    # layered work they would be put before the very components they connect.
    wiring = [bool(INTEGRATION.match(item.text)) for item in items]
    layered = [item for item, wires in zip(items, wiring, strict=True) if not wires]
    above = {
        level: [b for b in layered if b.layer is not None and b.layer > level]
        for level in {a.layer for a in layered if a.layer is not None}
    }
    not_setup = [b for b in layered if b.category != "Setup"]
    for a in layered:
        if a.category == "Setup":
            # Setup is layer 0: every other task comes after it, by layer or by the setup rule.
            for b in not_setup:
                if b is not a:
                    reason = LAYER_REASON.get((a.layer, b.layer)) if a.layer is not None else None
                    if b.layer is None or reason is None:
                        reason = "setup before the rest of its step"
                    yield a, b, reason
        elif a.layer is not None:
            for b in above[a.layer]:
                yield a, b, LAYER_REASON[(a.layer, b.layer)]
    created = [creates(item.text) for item in items]
    makers: dict[str, list[int]] = {}
    by_item_stem: dict[str, list[int]] = {}
    for index, made in enumerate(created):
        for name in made:
            makers.setdefault(name, []).append(index)
            stem = _stem(name, ITEM_SUFFIXES)
            if stem:
                by_item_stem.setdefault(stem, []).append(index)
    for u, user in enumerate(items):
        uses = names(user.text) - created[u]
        candidates = {m for name in uses for m in makers.get(name, ())}
        for container in created[u]:
            stem = _stem(container, CONTAINER_SUFFIXES)
            if stem:
                candidates.update(by_item_stem.get(stem, ()))
        candidates.discard(u)
        for m in sorted(candidates):
            maker = items[m]
            shared = sorted(uses & created[m])
            if shared:
                yield maker, user, f"uses {_display(maker.text, shared[0])}"
            built_from = _container_of(user, created[u], maker, created[m])
            if built_from:
                yield maker, user, built_from
    for w, wire in enumerate(items):
        if wiring[w]:
            for other in layered:
                yield other, wire, f"wires up step {wire.step.number}"


def names(text: str) -> set[str]:
    """Formal names in a task's text, normalised: `TodoItem`, `db.py`, `serve`, `todo.getAll`."""
    found = set()
    for match in NAME.finditer(text):
        raw = next(value for value in match.groupdict().values() if value)
        found.add(_normal(raw))
    found.discard("")
    return found


def creates(text: str) -> set[str]:
    """Names a task makes: those before its first "using / with / for ..." connector."""
    connector = CONNECTOR.search(text)
    head = text[: connector.start()] if connector else text
    return names(head)


def _normal(raw: str) -> str:
    raw = raw.strip().rstrip("()").strip()
    if "/" in raw:
        raw = raw.rstrip("/").rsplit("/", 1)[-1]
    return raw.lower()


def _display(text: str, normal: str) -> str:
    for match in NAME.finditer(text):
        raw = next(value for value in match.groupdict().values() if value)
        if _normal(raw) == normal:
            return raw.strip().rstrip("()") if "/" not in raw else raw.rsplit("/", 1)[-1]
    return normal


def _stem(name: str, suffixes: tuple[str, ...]) -> str:
    for suffix in suffixes:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return ""


def _container_of(
    user: PlannedTask, made_by_user: set[str], maker: PlannedTask, made_by_maker: set[str]
) -> str:
    """`TodoList` is built from `TodoItem`: a list-like name made of an item-like one."""
    for container in sorted(made_by_user):
        stem = _stem(container, CONTAINER_SUFFIXES)
        if not stem:
            continue
        for item in sorted(made_by_maker):
            if _stem(item, ITEM_SUFFIXES) == stem:
                return (
                    f"{_display(user.text, container)} is built from {_display(maker.text, item)}"
                )
    return ""


# -- the edge set ----------------------------------------------------------------------------


class _EdgeSet:
    """Edges by (blocker, blocked); the first reason given for a pair is kept."""

    def __init__(self) -> None:
        self.reasons: dict[tuple[str, str], str] = {}
        self.children: dict[str, list[str]] = {}

    def add(self, blocker: str, blocked: str, reason: str) -> None:
        if blocker == blocked or (blocker, blocked) in self.reasons:
            return
        self.reasons[(blocker, blocked)] = reason
        self.children.setdefault(blocker, []).append(blocked)

    def reaches(self, start: str, goal: str) -> bool:
        seen = {start}
        todo = [start]
        while todo:
            node = todo.pop()
            if node == goal:
                return True
            for nxt in self.children.get(node, ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return False

    def reduced(self, order: dict[str, int]) -> list[Edge]:
        """Transitive reduction of this DAG: drop u->v when another child of u reaches v.

        Reachability sets are bit masks built in reverse topological order, so this is linear
        in the edges (times a big-int OR) even for specs with a thousand tasks.
        """
        bit = {key: 1 << i for i, key in enumerate(order)}
        reach: dict[str, int] = {}
        for node in reversed(self._topological(order)):
            mask = 0
            for child in self.children.get(node, ()):
                mask |= reach[child] | bit[child]
            reach[node] = mask
        # In a DAG v is not in reach[v], so v is reachable through another child of u exactly
        # when it is in the union of the children's reach sets.
        through = {
            node: _union(reach[child] for child in self.children.get(node, ())) for node in order
        }
        return [
            Edge(blocker, blocked, reason)
            for (blocker, blocked), reason in self.reasons.items()
            if not through[blocker] & bit[blocked]
        ]

    def _topological(self, order: dict[str, int]) -> list[str]:
        indegree = dict.fromkeys(order, 0)
        for kids in self.children.values():
            for kid in kids:
                indegree[kid] += 1
        ready = [node for node in order if indegree[node] == 0]
        out: list[str] = []
        while ready:
            node = ready.pop()
            out.append(node)
            for kid in self.children.get(node, ()):
                indegree[kid] -= 1
                if indegree[kid] == 0:
                    ready.append(kid)
        return out


def _union(masks: Iterable[int]) -> int:
    total = 0
    for mask in masks:
        total |= mask
    return total


def _refuse_cycle(spec: Spec, planned: Sequence[PlannedTask], edges: _EdgeSet) -> None:
    cycle = cycle_in([item.key for item in planned], list(edges.reasons))
    if not cycle:
        return
    by_key = {item.key: item for item in planned}
    names_ = " → ".join(f'"{by_key[k].text}" (line {by_key[k].line})' for k in cycle)
    marked = next((by_key[k] for k in cycle if by_key[k].after), by_key[cycle[0]])
    raise MarathonError(
        f"dependency cycle: {names_}; remove one of the (after: ...) markers or depends= on it",
        where=spec.where(marked.line),
    )


# -- dependency metadata (engine/spec/dependencies.schema.json) ------------------------------


def metadata(
    nodes: Sequence[tuple[str, str, str, str, int]], edges: Sequence[Edge]
) -> dict[str, Any]:
    """The documented dependency metadata for nodes (id, identifier, title, key, priority)."""
    deps: dict[str, list[str]] = {}
    blocks: dict[str, list[str]] = {}
    known = {node[0] for node in nodes}
    kept = [edge for edge in edges if edge.blocker in known and edge.blocked in known]
    for edge in kept:
        deps.setdefault(edge.blocked, []).append(edge.blocker)
        blocks.setdefault(edge.blocker, []).append(edge.blocked)
    return {
        "version": 1,
        "issues": [
            {
                "id": node_id,
                "identifier": identifier,
                "title": title,
                "key": key,
                "priority": prio,
                "dependencies": deps.get(node_id, []),
                "blocks": blocks.get(node_id, []),
            }
            for node_id, identifier, title, key, prio in nodes
        ],
        "edges": [{"blocker": e.blocker, "blocked": e.blocked, "reason": e.reason} for e in kept],
    }


def metadata_from_drafts(drafts: Sequence[IssueDraft], edges: Sequence[Edge]) -> dict[str, Any]:
    """Dry-run metadata: draft keys stand in for issue ids."""
    nodes = [(d.key, d.key, d.title, d.key, d.priority) for d in drafts if d.kind != "meta"]
    return metadata(nodes, edges)


def metadata_from_issues(issues: Sequence[Issue], edges: Sequence[Edge]) -> dict[str, Any]:
    """Tracker metadata; edges come from the tracker (with reasons) or from Issue.dependencies."""
    nodes = [(i.id, i.id, i.title, i.key, i.priority) for i in issues if i.kind != "meta"]
    if not edges:
        edges = [Edge(dep, i.id) for i in issues for dep in i.dependencies]
    return metadata(nodes, edges)
