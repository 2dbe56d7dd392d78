"""Linear over its GraphQL API (httpx), behind the tracker interface.

Modules, one job each:

* `documents`: every GraphQL query and mutation we send (tests validate them against the schema);
* `auth`: the API key from `$<tracker.api_key_env>` or `tracker.api_key_file`, hidden from repr;
* `retry`: rate-limit waits from Linear's headers, backoff with jitter for transient faults;
* `client`: `LinearClient`, the httpx.AsyncClient wrapper (auth header, bounded concurrency,
  retries, GraphQL `errors[]` as exceptions);
* `identity`: derived UUIDs and the description footer that make imports idempotent;
* `remote`: the operations (team, project, paginated reads, batch create, labels, relations,
  comments);
* `tracker`: `LinearTracker`, the Tracker protocol with the local SQLite snapshot in front.

`linear_tracker(pipeline)` below is the factory; it imports the rest lazily so that merely
importing this package (while loading tasks) does not pull in httpx.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.config.model import Pipeline
    from engine.trackers.linear.tracker import LinearTracker


def linear_tracker(
    pipeline: Pipeline, *, environ: Mapping[str, str] | None = None
) -> LinearTracker:
    """A LinearTracker for this workspace: its snapshot is `.marathon/tracker.db`.

    No network and no key are needed to build it: the key is read on the first call that
    talks to Linear, so `doit list` works without LINEAR_API_KEY.
    """
    from engine.trackers.linear.tracker import linear_tracker as build

    return build(pipeline, environ=environ)
