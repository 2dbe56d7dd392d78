"""Where the Linear key comes from, how it is sent, and that it never shows."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from engine.config.model import TrackerConfig
from engine.errors import MarathonError
from engine.trackers.linear.auth import ApiKey, load_api_key

KEY = "lin_api_SECRETSECRET123"


def test_key_from_the_named_environment_variable() -> None:
    config = TrackerConfig(kind="linear", team="ENG", api_key_env="MY_LINEAR")
    key = load_api_key(config, {"MY_LINEAR": f"  {KEY}\n"})
    assert key.header() == KEY
    assert key.source == "$MY_LINEAR"


def test_key_from_a_file_when_the_variable_is_unset(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text(KEY + "\n")
    config = TrackerConfig(kind="linear", team="ENG", api_key_file=str(path))
    assert load_api_key(config, {}).header() == KEY


def test_missing_key_names_the_variable_to_set() -> None:
    with pytest.raises(MarathonError) as caught:
        load_api_key(TrackerConfig(kind="linear", team="ENG"), {})
    message = str(caught.value)
    assert "LINEAR_API_KEY" in message
    assert "\n" not in message
    assert caught.value.exit_code == 2


def test_unreadable_and_empty_key_files(tmp_path: Path) -> None:
    config = TrackerConfig(kind="linear", team="ENG", api_key_file=str(tmp_path / "nope"))
    with pytest.raises(MarathonError, match="cannot read the Linear API key file"):
        load_api_key(config, {})
    (tmp_path / "empty").write_text("\n")
    config = TrackerConfig(kind="linear", team="ENG", api_key_file=str(tmp_path / "empty"))
    with pytest.raises(MarathonError, match="is empty"):
        load_api_key(config, {})


def test_key_with_a_newline_inside_is_refused_without_showing_it() -> None:
    config = TrackerConfig(kind="linear", team="ENG")
    with pytest.raises(MarathonError) as caught:
        load_api_key(config, {"LINEAR_API_KEY": "lin_api_ab\ncd"})
    assert "lin_api_ab" not in str(caught.value)


def test_personal_key_is_sent_as_is_and_oauth_token_as_bearer() -> None:
    assert ApiKey(KEY, source="x").header() == KEY
    assert ApiKey("lin_oauth_abc", source="x").header() == "Bearer lin_oauth_abc"
    assert ApiKey("Bearer tok", source="x").header() == "Bearer tok"


def test_key_is_hidden_from_repr_str_format_and_pickle() -> None:
    key = ApiKey(KEY, source="$LINEAR_API_KEY")
    for text in (repr(key), str(key), f"{key}", f"{key!r}", repr([key])):
        assert KEY not in text
        assert "$LINEAR_API_KEY" in text
    with pytest.raises(TypeError):
        pickle.dumps(key)
