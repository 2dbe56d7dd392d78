"""A forgiving reader for XML-looking specs.

Real `<project_specification>` files are not XML: they contain `&&` in shell commands, `<` in
prose, code fences with tags inside, and the odd unclosed tag. A strict XML parser rejects
them, so this module finds tags with a strict tag pattern (so that `a < b` is never a tag),
ignores everything inside code fences, comments and `inline code`, and builds a tree in which
an unmatched tag simply stays text. Offsets into the original text are kept, so every element
knows its line and its original inner text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from engine.spec.text import (
    LineIndex,
    blank_out,
    delimited_spans,
    opaque_spans,
    tidy_block,
    unescape,
)

_ATTR = r"""[A-Za-z_][\w.:-]*\s*=\s*(?:"[^"<]*"|'[^'<]*'|[\w.,:-]+)"""
TAG = re.compile(rf"<(/?)([A-Za-z_][\w.:-]*)((?:\s+{_ATTR})*)\s*(/?)>")
ATTR = re.compile(r"""([A-Za-z_][\w.:-]*)\s*=\s*(?:"([^"<]*)"|'([^'<]*)'|([\w.,:-]+))""")

# Inline HTML in prose is formatting, not structure.
INLINE = frozenset({"b", "i", "em", "strong", "code", "br", "a", "span", "u", "kbd", "sup", "sub"})


@dataclass
class Element:
    name: str  # lower-cased tag name
    attrs: dict[str, str]
    start: int  # offset of '<' of the opening tag
    inner_start: int
    inner_end: int = -1
    end: int = -1  # offset just after the closing tag
    children: list[Element] = field(default_factory=list)

    def find(self, *names: str) -> Element | None:
        """The first descendant (depth first, document order) with one of these names."""
        for child in self.children:
            if child.name in names:
                return child
            found = child.find(*names)
            if found is not None:
                return found
        return None

    def find_all(self, *names: str) -> list[Element]:
        """Every descendant with one of these names, not looking inside the ones found."""
        found: list[Element] = []
        for child in self.children:
            if child.name in names:
                found.append(child)
            else:
                found += child.find_all(*names)
        return found

    def child(self, *names: str) -> Element | None:
        for child in self.children:
            if child.name in names:
                return child
        return None


@dataclass
class Unclosed:
    name: str
    offset: int


@dataclass
class Document:
    text: str
    root: Element
    lines: LineIndex
    unclosed: list[Unclosed]

    def line(self, offset: int) -> int:
        return self.lines.line(offset)

    def inner(self, element: Element) -> str:
        """The element's raw inner text (tags of children included), entities decoded."""
        return unescape(self.text[element.inner_start : element.inner_end])

    def loose(self, element: Element) -> str:
        """The element's own text: its inner text with every child element cut out."""
        parts: list[str] = []
        pos = element.inner_start
        for child in element.children:
            parts.append(self.text[pos : child.start])
            # Keep the child's line breaks so line numbers in the loose text stay true.
            parts.append("\n" * self.text.count("\n", child.start, child.end))
            pos = child.end
        parts.append(self.text[pos : element.inner_end])
        return unescape(_blank_comments("".join(parts)))

    def plain(self, element: Element) -> str:
        """Readable text of a section: nested elements become `label: text` lines."""
        parts: list[str] = []
        pos = element.inner_start
        for child in element.children:
            parts.append(self.text[pos : child.start])
            inner = tidy_block(self.plain(child))
            label = child.attrs.get("name") or child.attrs.get("title") or child.name
            label = label.replace("_", " ")
            # Only break the line when the source did not already (tags side by side).
            before = "".join(parts).rsplit("\n", 1)[-1]
            lead = "\n" if before.strip() else ""
            if "\n" in inner:
                # Indent under the label, counting from the column the tag itself sits in.
                pad = ("" if before.strip() else before) + "  "
                body = "\n".join(pad + line if line else "" for line in inner.split("\n"))
                parts.append(f"{lead}{label}:\n{body}")
            elif inner:
                parts.append(f"{lead}{label}: {inner}")
            pos = child.end
        parts.append(self.text[pos : element.inner_end])
        return tidy_block(unescape(_drop_comments("".join(parts))))


def _drop_comments(text: str) -> str:
    return _replace_comments(text, lambda comment: "")


def _blank_comments(text: str) -> str:
    return _replace_comments(text, lambda comment: "\n" * comment.count("\n"))


def _replace_comments(text: str, replace: Callable[[str], str]) -> str:
    parts: list[str] = []
    pos = 0
    for start, end in delimited_spans(text, "<!--", "-->"):
        parts += [text[pos:start], replace(text[start:end])]
        pos = end
    parts.append(text[pos:])
    return "".join(parts)


def parse_document(text: str) -> Document:
    """Build the forgiving element tree of `text` (never raises)."""
    scan = blank_out(text, opaque_spans(text))
    root = Element("#root", {}, 0, 0, len(text), len(text))
    stack: list[Element] = [root]
    unclosed: list[Unclosed] = []
    # How many elements of each name are open: a stray closing tag is then found to be stray
    # without a walk down the stack (n unclosed tags then n stray ones would be n squared).
    open_names: dict[str, int] = {}
    for match in TAG.finditer(scan):
        closing, name, attrs, selfclosing = match.groups()
        name = name.lower()
        if name in INLINE:
            continue
        if closing:
            if not open_names.get(name):
                continue  # a stray closing tag stays text
            # Every element passed over on the way down is dissolved, so the walk is paid
            # for once per element.
            while stack[-1].name != name:
                _dissolve(stack, unclosed, open_names)
            element = stack.pop()
            open_names[name] -= 1
            element.inner_end = match.start()
            element.end = match.end()
            continue
        element = Element(name, _attrs(attrs), match.start(), match.end())
        if selfclosing:
            element.inner_end = element.end = match.end()
            stack[-1].children.append(element)
        else:
            stack[-1].children.append(element)
            stack.append(element)
            open_names[name] = open_names.get(name, 0) + 1
    while len(stack) > 1:
        _dissolve(stack, unclosed, open_names)
    return Document(text, root, LineIndex(text), unclosed)


def _dissolve(stack: list[Element], unclosed: list[Unclosed], open_names: dict[str, int]) -> None:
    """An opening tag that is never closed becomes text; its children move to its parent."""
    element = stack.pop()
    open_names[element.name] -= 1
    parent = stack[-1]
    # The open element is always its parent's last child (later tags went inside it).
    index = len(parent.children) - 1
    if parent.children[index] is not element:
        index = parent.children.index(element)
    parent.children[index : index + 1] = element.children
    unclosed.append(Unclosed(element.name, element.start))


def depth_of(root: Element) -> tuple[int, Element]:
    """The deepest nesting in the tree and an element at that depth (without recursion)."""
    deepest, where = 0, root
    stack = [(root, 0)]
    while stack:
        element, depth = stack.pop()
        if depth > deepest:
            deepest, where = depth, element
        stack.extend((child, depth + 1) for child in element.children)
    return deepest, where


def _attrs(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for match in ATTR.finditer(text):
        value = next(group for group in match.groups()[1:] if group is not None)
        found[match.group(1).lower()] = unescape(value)
    return found
