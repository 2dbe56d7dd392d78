"""The timeline report and the graph as a browser shows them (headless Chromium).

The rendered DOM is compared structurally (bars in both views, their labels, the failures
section), and the screenshot is decoded to check the bars really are painted in their colours.
Skipped, with the reason, where Chromium is not installed (.ci/run installs it).
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from engine.report.timeline import COLOURS, write_timeline
from tests.unit.test_report_timeline import gated_issue

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(BROWSER is None, reason="chromium is not installed")
WINDOW = (1300, 1100)


def chromium(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    assert BROWSER is not None
    return subprocess.run(
        [
            BROWSER,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--window-size={WINDOW[0]},{WINDOW[1]}",
            *args,
            url,
        ],
        capture_output=True,
        timeout=90,
        check=True,
    )


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and rows of RGB(A) pixels of an 8-bit, non-interlaced PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6)
    channels = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(idat), width * channels
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        kind, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up, corner = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                best = min(
                    (abs(p - left), 0, left), (abs(p - up), 1, up), (abs(p - corner), 2, corner)
                )
                line[i] = (line[i] + best[2]) & 255
        rows.append(bytes(line[j] for j in range(stride) if j % channels < 3))
        previous = line
    return width, height, rows


def count_colour(rows: list[bytes], hex_colour: str) -> int:
    target = bytes.fromhex(hex_colour.lstrip("#"))
    return sum(row.count(target) for row in rows)


def test_the_report_renders_bars_labels_and_failures(tmp_path: Path) -> None:
    report = write_timeline(
        gated_issue(tmp_path),
        tmp_path / "reports",
        title="browser check",
        gates=frozenset({"verify"}),
        not_run=[("issue:P-1:exit", "UnmetDependency")],
    )
    dom = chromium(tmp_path, report.as_uri(), "--dump-dom").stdout.decode()
    assert dom.count('class="bar') == 2 * 7  # every run, in the view by lane and by issue
    assert dom.count('class="bar nested"') == 2 * 2  # the gate's checks, inside it
    assert ">P-1 code</text>" in dom and ">P-1 plan</text>" in dom
    assert "<h2>Failures (1)</h2>" in dom and "E   assert 1 == 2" in dom
    assert "Skipped and not run (1)" in dom

    shot = tmp_path / "shot.png"
    chromium(tmp_path, report.as_uri(), f"--screenshot={shot}")
    width, height, rows = png_pixels(shot.read_bytes())
    assert (width, height) == WINDOW
    # bars are painted: a failed one (red) and successful ones (green), in both views
    assert count_colour(rows, COLOURS["failed"]) > 2 * 200
    assert count_colour(rows, COLOURS["success"]) > 5 * count_colour(rows, COLOURS["failed"])
