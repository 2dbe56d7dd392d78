"""How an issue in Linear remembers which spec issue it came from.

Two mechanisms, for two readers:

* Ids are derived, not random: `derived_id(team, project, key)` hashes the names into a UUID with
  the version-4 bits set. Linear takes client-made v4 ids, and a retry of a create whose answer was
  lost gets "already exists" instead of a duplicate; a re-run on a fresh machine computes the same
  ids and recognises its issues even if someone edited them. (uuid5 would be the textbook choice,
  but Linear documents v4 ids; a hash with v4 bits is a valid v4 UUID that happens to be stable.)
  Relations, labels and the project get derived ids the same way, so retried creates converge
  too, and a relation whose id is ours is one the import may remove when the spec drops the edge.
* The description ends with a visible footer, `marathon: key=<key> kind=<kind>`, so `doit sync`
  on any machine restores each issue's key and kind (META issues) without knowing the spec.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from urllib.parse import quote, unquote

from engine.issue import IssueDraft

_FOOTER = re.compile(r"^marathon: key=(\S+) kind=(\w+)\s*$")
_ACCEPTANCE_HEAD = "**Acceptance**"
_CHECKBOX = re.compile(r"^- \[[ xX]\] (.*)$")


def derived_id(*parts: str) -> str:
    digest = hashlib.sha256("\x1f".join(("marathon", *parts)).encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def issue_id(team_id: str, project_id: str, key: str) -> str:
    return derived_id("issue", team_id, project_id, key)


def relation_id(blocker_uuid: str, blocked_uuid: str) -> str:
    return derived_id("blocks", blocker_uuid, blocked_uuid)


def project_id(team_id: str, name: str) -> str:
    return derived_id("project", team_id, name)


def label_id(team_id: str, name: str) -> str:
    # Lowercased: Linear treats label names case-insensitively, so "API" and "api" are one label.
    return derived_id("label", team_id, name.lower())


def render_description(draft: IssueDraft) -> str:
    """The description Linear stores: text, acceptance checklist, then the footer."""
    parts = [draft.description.strip()] if draft.description.strip() else []
    if draft.acceptance:
        items = "\n".join(f"- [ ] {item}" for item in draft.acceptance)
        parts.append(f"{_ACCEPTANCE_HEAD}\n{items}")
    if draft.key:  # an issue without a key (added by hand through the engine) has no footer
        parts.append(f"marathon: key={quote(draft.key, safe='')} kind={draft.kind}")
    return "\n\n".join(parts)


@dataclass(frozen=True)
class ParsedDescription:
    description: str
    acceptance: tuple[str, ...] = ()
    key: str = ""
    kind: str = "task"


def parse_description(text: str | None) -> ParsedDescription:
    """The inverse of `render_description`; a hand-written description comes back as is."""
    lines = (text or "").rstrip().splitlines()
    key, kind = "", "task"
    if lines and (match := _FOOTER.match(lines[-1].strip())):
        key, kind = unquote(match.group(1)), match.group(2)
        lines = lines[:-1]
    acceptance: list[str] = []
    if _ACCEPTANCE_HEAD in (line.strip() for line in lines) and key:
        head = max(i for i, line in enumerate(lines) if line.strip() == _ACCEPTANCE_HEAD)
        tail = [line.strip() for line in lines[head + 1 :] if line.strip()]
        if all(_CHECKBOX.match(line) for line in tail):
            acceptance = [m.group(1) for line in tail if (m := _CHECKBOX.match(line))]
            lines = lines[:head]
    return ParsedDescription("\n".join(lines).strip(), tuple(acceptance), key, kind)


def same_content(title: str, description: str, priority: int, draft: IssueDraft) -> bool:
    """Does Linear already hold what `draft` says? Compared field by field with whitespace
    folded, because Linear's editor may re-wrap or re-space Markdown it stores."""
    parsed = parse_description(description)

    def fold(text: str) -> str:
        return " ".join(text.split())

    return (
        fold(title) == fold(draft.title)
        and priority == draft.priority
        and fold(parsed.description) == fold(draft.description)
        and tuple(map(fold, parsed.acceptance)) == tuple(map(fold, draft.acceptance))
        and parsed.key == draft.key
        and parsed.kind == draft.kind
    )
