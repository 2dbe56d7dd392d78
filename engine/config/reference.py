"""The marathon.yaml reference in README.md, generated from the JSON Schema so it cannot drift.

`python -m engine.config.reference README.md` rewrites the part between the markers; a unit
test fails when the README's copy differs from what the schema says.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from engine.config.load import schema

START = "<!-- marathon.yaml reference: generated from engine/config/marathon.schema.json -->"
END = "<!-- end of the generated reference -->"


def reference() -> str:
    root = schema()
    defs = root.get("$defs", {})
    lines = ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
    for name, prop in root["properties"].items():
        lines += _rows(name, prop, defs)
    return "\n".join(lines) + "\n"


def _rows(path: str, prop: dict[str, Any], defs: dict[str, Any]) -> list[str]:
    resolved = _resolve(prop, defs)
    rows = [_row(path, prop, resolved)]
    if resolved.get("type") == "object" and "properties" in resolved:
        for name, child in resolved["properties"].items():
            rows += _rows(f"{path}.{name}", child, defs)
    extra = resolved.get("additionalProperties")
    if isinstance(extra, dict) and extra:
        item = _resolve(extra, defs)
        if "properties" in item:
            placeholder = f"{path}.<name>"
            for name, child in item["properties"].items():
                rows += _rows(f"{placeholder}.{name}", child, defs)
    return rows


def _row(path: str, prop: dict[str, Any], resolved: dict[str, Any]) -> str:
    meaning = prop.get("description") or resolved.get("description", "")
    default = resolved.get("default", prop.get("default"))
    shown = "" if default is None else f"`{_yaml(default)}`"
    return f"| `{path}` | {_type(resolved)} | {shown} | {meaning.replace('|', '/')} |"


def _resolve(prop: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in prop:
        target = defs[prop["$ref"].rsplit("/", 1)[-1]]
        return {**target, **{k: v for k, v in prop.items() if k != "$ref"}}
    return prop


def _type(prop: dict[str, Any]) -> str:
    if "enum" in prop:
        return " / ".join(f"`{v}`" for v in prop["enum"])
    if "const" in prop:
        return f"`{prop['const']}`"
    if "oneOf" in prop:
        return " or ".join(_type(option) for option in prop["oneOf"])
    kind = prop.get("type", "")
    if kind == "array":
        return f"list of {_type(prop.get('items', {})) or 'values'}"
    if kind == "object":
        return "mapping"
    return kind


def _yaml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def replace_section(text: str) -> str:
    if START not in text or END not in text:
        raise SystemExit(f"the markers are missing:\n{START}\n{END}")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n\n{reference()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    path = Path(argv[0] if argv else "README.md")
    path.write_text(replace_section(path.read_text()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
