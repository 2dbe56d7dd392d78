"""`doit report`: print (and optionally open) the latest timeline report."""

from __future__ import annotations

import webbrowser
from pathlib import Path
from typing import TextIO

from engine.errors import MarathonError
from engine.report.timeline import LATEST


def latest_report(state_dir: Path) -> Path:
    path = state_dir / "reports" / LATEST
    if not path.is_file():
        raise MarathonError(
            f"no timeline report yet in {state_dir / 'reports'}; one is written after each run"
            " (try `doit -n 4 verify` first)"
        )
    return path


def run_report(state_dir: Path, *, out: TextIO, open_browser: bool = False) -> int:
    path = latest_report(state_dir).resolve()
    out.write(f"{path}\n")
    if open_browser:
        # webbrowser returns False when nothing can show it (a server, CI): printing is enough.
        webbrowser.open(path.as_uri())
    return 0
