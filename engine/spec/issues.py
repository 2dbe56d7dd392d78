"""From a parsed spec to issue drafts: keys, categories, priorities, descriptions, criteria.

One issue per task bullet; a step without bullets is one issue; plus one META issue that tracks
the whole project (kind "meta", key "meta", never part of the dependency graph).

Draft keys (what makes re-import update instead of duplicate) follow one rule:

1. an explicit `(id: storage)` in a bullet, or `id="storage"` on a `<task>` or bullet-less
   `<step>`, is the key (slugged);
2. otherwise a bullet's key is the slug of its text (`Create TodoItem model` ->
   `create-todoitem-model`) and a bullet-less step's key is `step-` + the slug of its title;
3. when two tasks would share a key, each gets its step as a prefix (`s2-write-tests`), and
   repeats inside one step get `-2`, `-3` in order;
4. `meta` is reserved for the META issue.

So keys do not depend on bullet positions or step numbers: moving a task, renumbering steps,
or editing a step's other text updates the same issue. Rewording a task makes a new issue
(give it an `(id: ...)` to keep it through rewording).
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from dataclasses import dataclass

from engine.errors import MarathonError
from engine.issue import IssueDraft
from engine.spec.model import Spec, SpecStep, SpecTask
from engine.spec.text import split_bullets

META_KEY = "meta"
SECTION_LIMIT = 1500  # characters of one spec section quoted in an issue description
TITLE_LIMIT = 120
SIBLING_LIMIT = 8  # other tasks of the step named in a description

# Ordered: the category whose keyword appears first in a task's text wins.
CATEGORY_WORDS: tuple[tuple[str, str], ...] = (
    (
        "Setup",
        r"setup|set up|initiali[sz]e|init|scaffold\w*|bootstrap|install|configure|"
        r"configuration|skeleton|project structure|boilerplate|tooling|environment variables",
    ),
    (
        "Database",
        r"database|db|schema|tables?|migrations?|sqlite|postgres(?:ql)?|mysql|"
        r"mongo(?:db)?|orm|storage|persist\w*|sql|indexe?s?|repository",
    ),
    ("Model", r"models?|dataclass(?:es)?|entit(?:y|ies)|type definitions"),
    (
        "API",
        r"api|endpoints?|routes?|router|handlers?|server|http|rest|graphql|trpc|orpc|rpc|"
        r"requests?|responses?|middleware|webhooks?",
    ),
    ("CLI", r"cli|command[- ]line|argparse|sub-?commands?|commands?"),
    (
        "UI",
        r"ui|components?|pages?|forms?|buttons?|layout|views?|frontend|front end|screens?|"
        r"modals?|styles?|css|tailwind|sidebar|navbar|dashboard|theme",
    ),
    ("Testing", r"tests?|testing|pytest|e2e|end-to-end|coverage|playwright|vitest|jest"),
    (
        "Polish",
        r"polish|loading|toasts?|spinners?|lint|linting|formatting|biome|eslint|ruff|"
        r"accessibility|a11y|performance|optimi[sz]e|animations?|empty state|linters?",
    ),
    ("Docs", r"docs|documentation|readme|guide|changelog"),
)
_CATEGORY_RES = [
    (name, re.compile(rf"\b(?:{words})\b", re.IGNORECASE)) for name, words in CATEGORY_WORDS
]
_SETUP_START = re.compile(r"^(?:initiali[sz]e|init|scaffold|bootstrap|install)\b", re.IGNORECASE)

# Layers for "database work blocks API work, API work blocks UI work".
LAYERS = {"Setup": 0, "Database": 1, "Model": 1, "API": 2, "UI": 3, "CLI": 3}

SECONDARY = re.compile(
    r"\b(?:search|sort(?:ing)?|export|notifications?|settings|preferences|analytics|advanced|"
    r"optional|enhancements?|bonus|stretch|nice to have)\b",
    re.IGNORECASE,
)
POLISH_STEP = re.compile(
    r"\b(?:polish|final touches|clean-?up|nice to have|optional)\b", re.IGNORECASE
)

# Which spec sections give context to which kind of work.
CONTEXT_SECTIONS = {
    "Setup": ("technology_stack", "prerequisites", "project_structure", "project_initialization"),
    "Database": ("database_schema", "data_model"),
    "Model": ("database_schema", "data_model"),
    "API": ("api_endpoints", "api_endpoints_summary"),
    "UI": ("ui_components", "ui_layout", "design_system"),
    "CLI": ("cli_commands", "ui_components"),
    "Testing": ("testing", "testing_specification"),
    "Polish": ("design_system",),
}
ALWAYS_CONTEXT = ("technology_stack",)
CHECKS_PASS = "Existing tests and checks still pass"


@dataclass(frozen=True)
class PlannedTask:
    """A task with its key and category: what the dependency rules and the drafts read."""

    key: str
    step: SpecStep
    task: SpecTask | None  # None: a step without bullets is one issue
    category: str

    @property
    def text(self) -> str:
        return self.task.text if self.task else self.step.title

    @property
    def line(self) -> int:
        return self.task.line if self.task else self.step.line

    @property
    def after(self) -> tuple[str, ...]:
        return self.task.after if self.task else ()

    @property
    def layer(self) -> int | None:
        return LAYERS.get(self.category)


def plan_tasks(spec: Spec) -> list[PlannedTask]:
    """Every task of the spec in document order, with its key and category."""
    raw: list[tuple[SpecStep, SpecTask | None, str, bool]] = []
    explicit_lines: dict[str, int] = {}
    for step in spec.steps:
        items: list[SpecTask | None] = list(step.tasks) or [None]
        for task in items:
            given = task.key if task else step.key
            if given:
                key = slug(given)
                if not key or key == META_KEY:
                    raise MarathonError(
                        f"id {given!r} cannot be used; pick another id of letters and digits",
                        where=spec.where(task.line if task else step.line),
                    )
                line = task.line if task else step.line
                if key in explicit_lines:
                    raise MarathonError(
                        f"id {key!r} is used twice (lines {explicit_lines[key]} and {line}); "
                        "ids must be unique",
                        where=spec.where(line),
                    )
                explicit_lines[key] = line
            else:
                key = slug(task.text) if task else "step-" + slug(step.title)
                key = key or f"step-{step.number}"
                if key == META_KEY:
                    key = "task-meta"
            raw.append((step, task, key, bool(given)))
    counts = Counter(key for _, _, key, given in raw if not given)
    taken = set(explicit_lines)
    planned: list[PlannedTask] = []
    for step, task, key, given in raw:
        if not given and (counts[key] > 1 or key in explicit_lines or key in taken):
            base = f"s{step.number}-{key}"
            key, n = base, 1
            while key in taken:
                n += 1
                key = f"{base}-{n}"
        taken.add(key)
        planned.append(
            PlannedTask(key, step, task, categorize(task.text if task else "", step.title))
        )
    return planned


def slug(text: str, limit: int = 40) -> str:
    """Lower-case words joined by '-', articles dropped, cut at a word boundary."""
    # Unicode letters count, so a spec written in any language still gets distinct keys.
    words = [w for w in re.findall(r"[^\W_]+", text.lower()) if w not in ("the", "a", "an")]
    out = ""
    for word in words:
        candidate = f"{out}-{word}" if out else word
        if len(candidate) > limit:
            break
        out = candidate
    return out or (words[0][:limit] if words else "")


def categorize(task_text: str, step_title: str) -> str:
    """The `[Category]` of a task: its own words first, with its step's title as tie-breaker.

    A task that starts with "initialize / scaffold / install" is setup. Otherwise, when the
    task's words include its step's category, that wins ("package skeleton ... src layout"
    in a setup step is setup, not UI); else the task's earliest non-setup keyword ("Set up the
    API client" is API work); else setup if it says so; else the step's category (not setup
    when the title names more: "Setup and storage"); else the step title's first word.
    """
    if not task_text:
        # A step without bullets is one issue: its title's first keyword names it.
        return _first_category(step_title) or _first_word(step_title)
    if _SETUP_START.match(task_text):
        return "Setup"
    # "Setup and storage": a task there with no keyword of its own is storage work, not setup.
    step_category = _first_category(step_title, skip=("Setup",)) or _first_category(step_title)
    if step_category and step_category in _categories(task_text):
        return step_category
    found = _first_category(task_text, skip=("Setup",))
    if found:
        return found
    if "Setup" in _categories(task_text):
        return "Setup"
    return step_category or _first_word(step_title)


def _first_word(title: str) -> str:
    word = re.match(r"[A-Za-z]+", title or "")
    return word.group(0).capitalize() if word else "Feature"


def _categories(text: str) -> set[str]:
    return {name for name, pattern in _CATEGORY_RES if text and pattern.search(text)}


def _first_category(text: str, skip: tuple[str, ...] = ()) -> str:
    best: tuple[int, int, str] | None = None
    for order, (name, pattern) in enumerate(_CATEGORY_RES):
        if name in skip:
            continue
        match = pattern.search(text)
        if match and (best is None or (match.start(), order) < best[:2]):
            best = (match.start(), order, name)
    return best[2] if best else ""


def priority(planned: PlannedTask, first_step: int) -> int:
    """Linear numbers: 1 urgent, 2 high, 3 medium, 4 low (see the module docstring rules)."""
    if planned.step.priority is not None:
        return planned.step.priority
    if planned.category == "Setup":
        return 1 if planned.step.number == first_step else 2
    if planned.category in ("Polish", "Docs") or POLISH_STEP.search(planned.step.title):
        return 4
    if planned.category == "Testing" or SECONDARY.search(planned.text):
        return 3
    return 2


def issue_title(planned: PlannedTask) -> str:
    text = planned.text.rstrip(" .:;,")
    if len(text) > TITLE_LIMIT:
        text = text[:TITLE_LIMIT].rsplit(" ", 1)[0] + "…"
    return f"[{planned.category}] {text}"


# -- descriptions and acceptance criteria ------------------------------------------------------


def build_drafts(spec: Spec, planned: list[PlannedTask]) -> list[IssueDraft]:
    """Task drafts in spec order, then the META draft. Same spec in, same drafts out."""
    first_step = min(step.number for step in spec.steps)
    criteria = success_criteria(spec)
    common = _common_words(spec, planned)
    drafts = [
        IssueDraft(
            key=item.key,
            title=issue_title(item),
            description=_description(spec, item),
            acceptance=_acceptance(item, criteria, common),
            priority=priority(item, first_step),
            kind="task",
            labels=(item.category.lower(),),
        )
        for item in planned
    ]
    drafts.append(meta_draft(spec, planned, criteria))
    return drafts


def _description(spec: Spec, item: PlannedTask) -> str:
    step = item.step
    parts = [item.text]
    where = f'Step {step.number} of {len(spec.steps)}, "{step.title}", of {spec.name}.'
    if item.task is not None and len(step.tasks) > 1:
        # Only the first few siblings are named: building the whole list for every task of a
        # step would make a step of n bullets cost n squared.
        others = (t.text for t in step.tasks if t is not item.task)
        shown = list(itertools.islice(others, SIBLING_LIMIT))
        if len(step.tasks) - 1 > len(shown):
            shown.append(f"and {len(step.tasks) - 1 - len(shown)} more")
        where += " Other work in this step: " + "; ".join(shown) + "."
    parts.append(where)
    if step.body:
        parts.append(step.body)
    context = []
    names = (*CONTEXT_SECTIONS.get(item.category, ()), *ALWAYS_CONTEXT)
    for name in dict.fromkeys(names):
        text = spec.sections.get(name, "").strip()
        if text:
            title = re.sub(
                r"\b(api|ui|cli)\b",
                lambda m: m.group(1).upper(),
                name.replace("_", " ").capitalize(),
                flags=re.IGNORECASE,
            )
            context.append(f"### {title}\n\n{_clip(text)}")
    if context:
        parts.append("## Context from the spec\n\n" + "\n\n".join(context))
    return "\n\n".join(parts)


def _clip(text: str) -> str:
    if len(text) <= SECTION_LIMIT:
        return text
    cut = text[:SECTION_LIMIT].rsplit("\n", 1)[0]
    return cut + "\n…"


def success_criteria(spec: Spec) -> list[str]:
    text = spec.sections.get("success_criteria", "")
    if not text:
        return []
    bullets, prose = split_bullets(text, 1)
    lines = [b.text for b in bullets] + [line.strip() for line in prose.split("\n")]
    return [line for line in dict.fromkeys(lines) if line and not line.endswith(":")]


# Words too common in task text to say that a success criterion is about this task.
_STOP = frozenset(
    {
        "with", "from", "into", "that", "this", "then", "than", "have", "each", "when",
        "will", "should", "must", "also", "only", "your", "their", "there", "about",
        "after", "before", "using", "used", "uses", "make", "makes", "made", "data", "work",
    }
)  # fmt: skip


def _words(text: str) -> set[str]:
    words = set()
    for word in re.findall(r"[a-z][a-z0-9_]+", text.lower()):
        if len(word) < 4 or word in _STOP:
            continue
        words.add(word[:-1] if word.endswith("s") else word)
    return words


def _common_words(spec: Spec, planned: list[PlannedTask]) -> set[str]:
    """Words of the project's name, or in over a quarter of the tasks ("todo" in a todo app),
    say nothing about which task a success criterion is about."""
    counts = Counter(word for item in planned for word in _words(item.text))
    return _words(spec.name) | {word for word, n in counts.items() if n * 4 > len(planned)}


def _acceptance(item: PlannedTask, criteria: list[str], common: set[str]) -> tuple[str, ...]:
    own = list(item.task.details) if item.task and item.task.details else [item.text]
    words = _words(item.text + " " + " ".join(own)) - common
    matched = [c for c in criteria if _words(c) & words][:3]
    return tuple(dict.fromkeys([*own, *matched, CHECKS_PASS]))


def meta_draft(spec: Spec, planned: list[PlannedTask], criteria: list[str]) -> IssueDraft:
    lines = [f"Tracks the whole project {spec.name} built from {spec.path.name}."]
    if spec.overview:
        lines.append(spec.overview)
    steps = []
    for step in spec.steps:
        count = sum(1 for item in planned if item.step is step)
        steps.append(f"{step.number}. {step.title} ({count} issue{'s' if count != 1 else ''})")
    lines.append("## Steps\n\n" + "\n".join(steps))
    lines.append(
        f"{len(planned)} issues in all. This issue closes when every other issue from the spec "
        "is done; use its comments for hand-off notes between sessions."
    )
    return IssueDraft(
        key=META_KEY,
        title=f"[META] {spec.name}: project progress",
        description="\n\n".join(lines),
        acceptance=tuple(criteria) or ("Every issue from the spec is done",),
        priority=0,
        kind="meta",
        labels=("meta",),
    )
