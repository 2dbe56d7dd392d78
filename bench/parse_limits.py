"""Spec and marathon.yaml parsing on hostile sizes: every parser must stay linear.

Each case is timed at n and 4n in this process; a linear parser shows a ratio near 4, a
quadratic one near 16. Run: `python bench/parse_limits.py` (add `--quick` for small sizes).
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from engine.config.yaml_positions import load_with_positions
from engine.errors import MarathonError
from engine.spec.importer import plan_spec


def markdown_bullets(n: int) -> str:
    bullets = "\n".join(f"- Create module{i} using module{i - 1}" for i in range(n))
    return f"# Big\n\n## Implementation steps\n\n### Step 1: Everything\n\n{bullets}\n"


def markdown_reverse_chain(n: int) -> str:
    # Each bullet uses the one after it: every guessed edge extends a chain of the earlier ones.
    bullets = "\n".join(f"- Create module{i} using module{i + 1}" for i in range(n))
    return f"# Big\n\n## Implementation steps\n\n### Step 1: Everything\n\n{bullets}\n"


def markdown_mixed_layers(n: int) -> str:
    kinds = ("Add the database table t{}", "Add the API endpoint /e{}")
    bullets = "\n".join("- " + kinds[i % 2].format(i) for i in range(n))
    return f"# Big\n\n## Implementation steps\n\n### Step 1: Everything\n\n{bullets}\n"


def xml_nested(n: int) -> str:
    return (
        '<project_specification><implementation_steps><step number="1"><title>T</title>'
        + "<x>" * n
        + "- Create a thing"
        + "</x>" * n
        + "</step></implementation_steps></project_specification>\n"
    )


def one_bullet(text: str) -> str:
    return f"# Big\n\n## Implementation steps\n\n### Step 1: One\n\n- Create {text}\n"


def after_all(n: int) -> str:
    tasks = "".join(f"- thing {i} (id: t{i})\n" for i in range(n))
    last = "- last (after: " + ", ".join(f"t{i}" for i in range(n)) + ")\n"
    return f"# Big\n\n## Implementation steps\n\n### Step 1: All\n\n{tasks}{last}"


def xml_bullets(n: int) -> str:
    bullets = "\n".join(f"- Create module{i} using module{i - 1}" for i in range(n))
    return (
        "<project_specification><project_name>Big</project_name><implementation_steps>"
        f'<step number="1"><title>Everything</title>\n{bullets}\n</step>'
        "</implementation_steps></project_specification>\n"
    )


def unclosed_then_stray(n: int) -> str:
    return (
        "<project_specification><implementation_steps>"
        '<step number="1"><title>T</title>\n- Create a thing\n</step>'
        + "<x>" * n
        + "</y>" * n
        + "</implementation_steps></project_specification>\n"
    )


def yaml_laughs(levels: int) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def time_spec(folder: Path, text: str, suffix: str) -> float:
    path = folder / f"spec{suffix}"
    path.write_text(text)
    start = time.perf_counter()
    with contextlib.suppress(MarathonError):  # refusing quickly is as good as parsing quickly
        plan_spec(path)
    return time.perf_counter() - start


def time_yaml(text: str) -> float:
    start = time.perf_counter()
    with contextlib.suppress(MarathonError):
        load_with_positions(text, "marathon.yaml")
    return time.perf_counter() - start


def _timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def _pure_python_load(text: str) -> None:
    import yaml

    yaml.compose(text, Loader=yaml.SafeLoader)
    yaml.safe_load(text)


def main() -> None:
    quick = "--quick" in sys.argv
    n = 1000 if quick else 2500
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cases: list[tuple[str, Callable[[int], float]]] = [
            (
                "markdown: n bullets in one step",
                lambda k: time_spec(folder, markdown_bullets(k), ".md"),
            ),
            ("xml: n bullets in one step", lambda k: time_spec(folder, xml_bullets(k), ".xml")),
            (
                "markdown: n bullets, each using the next",
                lambda k: time_spec(folder, markdown_reverse_chain(k), ".md"),
            ),
            (
                "markdown: n bullets, two layers mixed",
                lambda k: time_spec(folder, markdown_mixed_layers(k), ".md"),
            ),
            ("xml: n nested tags", lambda k: time_spec(folder, xml_nested(k), ".xml")),
            ("markdown: one task after n others", lambda k: time_spec(folder, after_all(k), ".md")),
            (
                "markdown: heading of 8n '# '",
                lambda k: time_spec(folder, "# " + "# " * 8 * k + "x\n" + one_bullet("a"), ".md"),
            ),
            (
                "markdown: 8n unclosed comments",
                lambda k: time_spec(folder, one_bullet("<!--" * 8 * k), ".md"),
            ),
            (
                "markdown: 8n unclosed '(depends'",
                lambda k: time_spec(folder, one_bullet("(depends " * 8 * k), ".md"),
            ),
            (
                "markdown: a word of 20n letters",
                lambda k: time_spec(folder, one_bullet("x" * 20 * k + ".py"), ".md"),
            ),
            (
                "xml: n unclosed + n stray closing tags",
                lambda k: time_spec(folder, unclosed_then_stray(k * 4), ".xml"),
            ),
        ]
        print(f"{'case':<44} {'n':>6} {'t(n) s':>8} {'t(4n) s':>8} {'ratio':>6}")
        for name, run in cases:
            run(10)  # warm imports and caches
            small, big = run(n), run(4 * n)
            print(f"{name:<44} {n:>6} {small:>8.3f} {big:>8.3f} {big / small:>6.1f}")
        t = time_spec(folder, markdown_bullets(10_000), ".md")
        print(f"markdown: 10 000 bullets in one step: {t:.2f} s (limit 2 s)")
        default = (Path(__file__).resolve().parents[1] / "templates" / "marathon.yaml").read_text()
        baseline = min(_timed(lambda: _pure_python_load(default)) for _ in range(20))
        ours = min(time_yaml(default) for _ in range(20))
        print(
            f"yaml: the default pipeline: {ours * 1000:.1f} ms "
            f"(pure-Python compose + safe_load, as before: {baseline * 1000:.1f} ms)"
        )
        for levels in (6, 9):
            print(f"yaml: billion laughs, {levels} levels: {time_yaml(yaml_laughs(levels)):.3f} s")


if __name__ == "__main__":
    main()
