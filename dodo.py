"""doit entry point: the tasks compiled from marathon.yaml (see engine/tasks.py)."""

from pathlib import Path

from engine.tasks import dodo_namespace

globals().update(dodo_namespace(Path(__file__).resolve().parent))
