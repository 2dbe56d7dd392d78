"""The Linear credential: read from the environment or a file, never printed.

marathon.yaml only names *where* the key is (`api_key_env`, `api_key_file`), never the key itself,
so the file can be committed. `ApiKey` hides the value from repr/str so it cannot leak through a log
line, an exception message or a record that formats the object.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from engine.config.model import TrackerConfig
from engine.errors import MarathonError
from engine.spec.text import read_limited

# Linear's OAuth access tokens carry this prefix; personal API keys start with "lin_api_".
_OAUTH_PREFIX = "lin_oauth_"


class ApiKey:
    """A personal API key or an OAuth access token; only `header()` reveals it."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str, *, source: str) -> None:
        self._value = value.strip()
        self.source = source  # e.g. "$LINEAR_API_KEY": safe to show, says where to fix it

    def header(self) -> str:
        """The Authorization header value: a personal key as is, an OAuth token as Bearer."""
        if self._value.lower().startswith("bearer "):
            return self._value
        if self._value.startswith(_OAUTH_PREFIX):
            return f"Bearer {self._value}"
        return self._value

    def fix_hint(self) -> str:
        if self.source.startswith("$"):
            return f"set {self.source[1:]} to a valid Linear API key"
        return f"put a valid Linear API key in {self.source}"

    def __repr__(self) -> str:
        return f"ApiKey(<hidden>, source={self.source!r})"

    __str__ = __repr__

    def __reduce__(self) -> object:
        # Pickling (multiprocessing, doit's dep file) would write the key to disk.
        raise TypeError("ApiKey is not picklable")


def load_api_key(config: TrackerConfig, environ: Mapping[str, str] | None = None) -> ApiKey:
    """The key from `$<api_key_env>`, else from `api_key_file`; a one-line error if neither."""
    env = os.environ if environ is None else environ
    name = config.api_key_env or "LINEAR_API_KEY"
    value = env.get(name, "").strip()
    if value:
        return _checked(value, f"${name}")
    if config.api_key_file:
        path = Path(config.api_key_file).expanduser()
        try:
            # Bounded and never a pipe: a key is a few dozen bytes.
            value = read_limited(path, 4096).decode("utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or "not UTF-8 text"
            raise MarathonError(
                f"cannot read the Linear API key file {path}: {reason}; "
                f"fix tracker.api_key_file or set {name}"
            ) from None
        if value:
            return _checked(value, str(path))
        raise MarathonError(
            f"the Linear API key file {path} is empty; put the key in it or set {name}"
        )
    raise MarathonError(
        f"no Linear API key: set the environment variable {name} "
        "(a personal key from Linear > Settings > Security & access > API), "
        "or point tracker.api_key_file at a file holding it"
    )


def _checked(value: str, source: str) -> ApiKey:
    # A header must be printable ASCII; httpx would fail later with the key inside its exception.
    if not all(32 < ord(ch) < 127 or ch == " " for ch in value):
        raise MarathonError(
            f"the Linear API key in {source} has characters a key cannot contain "
            "(a pasted quote or newline?); copy it again"
        )
    return ApiKey(value, source=source)
