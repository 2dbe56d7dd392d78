"""Prompt templates: found in the workspace's templates/ first, then the packaged defaults.

Issue text only ever enters a template as a variable's value, never as template source, so
`{{ 7*7 }}` in an issue title reaches the agent verbatim.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import MarathonError, did_you_mean

if TYPE_CHECKING:
    import jinja2

# jinja2 is imported where a template is checked or rendered, not with this module: a no-op
# run whose templates were checked before never pays for it.

# Every variable a prompt template may use; validation refuses any other name.
CONTEXT_NAMES = ("issue", "phase", "plan", "plan_path", "checks", "workspace")


@functools.cache
def _environment(template_dirs: tuple[Path, ...]) -> jinja2.Environment:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(d) for d in template_dirs]),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # prompts are Markdown for a model, not HTML
        keep_trailing_newline=True,
    )


def check_template(template_dirs: Sequence[Path], name: str, extra: Sequence[str] = ()) -> None:
    """Refuse a template that is missing, does not parse, or names an unknown variable;
    `extra` are variables this template gets besides the usual ones (a fix's `failures`).

    Templates it includes, imports or extends are checked the same way (they render with the
    same variables), so a missing or escaping include (`{% include "../../etc/passwd" %}`) is
    refused at load, not mid-run.
    """
    env = _environment(tuple(template_dirs))
    _check_tree(env, template_dirs, name, (), tuple(extra))


MAX_INCLUDE_DEPTH = 16


def _check_tree(
    env: jinja2.Environment,
    template_dirs: Sequence[Path],
    name: str,
    chain: tuple[str, ...],
    extra: tuple[str, ...],
) -> None:
    if name in chain:
        loop = " -> ".join((*chain[chain.index(name) :], name))
        raise MarathonError(
            f"template '{name}' includes itself ({loop}); rendering would never end"
        )
    if len(chain) > MAX_INCLUDE_DEPTH:
        raise MarathonError(
            f"templates include each other more than {MAX_INCLUDE_DEPTH} levels deep "
            f"({' -> '.join(chain[:3])} ...)"
        )
    parent = chain[-1] if chain else ""
    for child in dict.fromkeys(_check_one(env, template_dirs, name, parent, extra)):
        _check_tree(env, template_dirs, child, (*chain, name), extra)


def _check_one(
    env: jinja2.Environment,
    template_dirs: Sequence[Path],
    name: str,
    parent: str,
    extra: tuple[str, ...],
) -> list[str]:
    """Check one template; returns the names of the templates it pulls in."""
    import jinja2
    from jinja2 import meta, nodes

    try:
        source, filename, _ = env.loader.get_source(env, name)  # type: ignore[union-attr]
    except jinja2.TemplateNotFound:
        where = ", ".join(str(d) for d in template_dirs)
        if parent:
            hint = " (names are relative to the template folders; '..' is not allowed)"
            raise MarathonError(
                f"template '{parent}' includes '{name}', which is not found in {where}"
                f"{hint if '..' in name.split('/') or name.startswith('/') else ''}"
            ) from None
        raise MarathonError(f"template '{name}' not found in {where}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MarathonError(f"template '{name}' cannot be read: {exc}") from None
    try:
        ast = env.parse(source, name, filename)
    except jinja2.TemplateSyntaxError as exc:
        raise MarathonError(f"template {filename}:{exc.lineno}: {exc.message}") from None
    children = []
    for node in ast.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
        if not isinstance(node.template, nodes.Const) or not isinstance(node.template.value, str):
            # A computed name would let issue text pick which file becomes template source.
            raise MarathonError(
                f"template {filename}:{node.lineno}: include/import/extends must name a "
                "template as a quoted string"
            )
        children.append(node.template.value)
    known = (*CONTEXT_NAMES, *extra)
    unknown = sorted(meta.find_undeclared_variables(ast) - set(known))
    if unknown:
        word = unknown[0]
        line = _line_of(source, word)
        raise MarathonError(
            f"template {filename}:{line} names undefined variable '{word}'"
            f"{did_you_mean(word, known)}"
        )
    return children


def _line_of(source: str, word: str) -> int:
    pattern = re.compile(rf"\b{re.escape(word)}\b")
    for number, line in enumerate(source.splitlines(), start=1):
        if pattern.search(line) and ("{{" in line or "{%" in line):
            return number
    return 1


def render(template_dirs: Sequence[Path], name: str, context: Mapping[str, Any]) -> str:
    import jinja2

    env = _environment(tuple(template_dirs))
    try:
        return env.get_template(name).render(**context)
    except jinja2.UndefinedError as exc:
        raise MarathonError(f"template {name}: {exc.message}", exit_code=1) from None
    except jinja2.TemplateError as exc:  # checked at load; the file changed since
        raise MarathonError(f"template {name}: {exc.message or exc}", exit_code=1) from None
