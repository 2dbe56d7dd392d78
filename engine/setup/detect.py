"""Every ecosystem found in a project, with check names made unique across them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from engine.setup import go, node, python, rust
from engine.setup.model import Detection

DETECTORS = (python.detect, node.detect, go.detect, rust.detect)


def detect_project(root: Path) -> list[Detection]:
    found = [d for d in (detector(root) for detector in DETECTORS) if d is not None]
    if len(found) < 2:
        return found
    # Two ecosystems may both have a `lint` or `test`: prefix those with the ecosystem.
    names = [c.name for d in found for c in d.checks]
    clashing = {n for n in names if names.count(n) > 1}
    return [
        dataclasses.replace(
            d,
            checks=tuple(
                dataclasses.replace(c, name=f"{d.ecosystem}-{c.name}") if c.name in clashing else c
                for c in d.checks
            ),
        )
        for d in found
    ]
