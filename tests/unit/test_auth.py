"""The server's API keys: how the operator lists them and how a request's key is read."""

from __future__ import annotations

import pytest

from graphs.auth import KeyConfigError, load_keys, parse_keys, presented_key, user_for


def test_keys_from_the_environment_and_a_file(tmp_path) -> None:
    keys = tmp_path / "keys"
    keys.write_text("# operators\ncarol = k3\n\ndave=k4  # on call\n", encoding="utf-8")
    env = {"COUNCIL_API_KEYS": "alice=k1, bob=k2", "COUNCIL_API_KEYS_FILE": str(keys)}
    assert load_keys(env) == {"k1": "alice", "k2": "bob", "k3": "carol", "k4": "dave"}
    assert load_keys({}) == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [("alice", "entry 1 is not 'user=key'"), ("alice=k1,bob=k1", "entry 2 repeats a key"), ("=k", "entry 1")],
)
def test_a_bad_key_list_names_the_setting_and_the_entry(text: str, message: str) -> None:
    with pytest.raises(KeyConfigError, match=message):
        parse_keys(text, "$COUNCIL_API_KEYS")


def test_an_unreadable_key_file_is_one_line(tmp_path) -> None:
    with pytest.raises(KeyConfigError, match=r"\$COUNCIL_API_KEYS_FILE: cannot read"):
        load_keys({"COUNCIL_API_KEYS_FILE": str(tmp_path / "missing")})


def test_the_key_a_request_carries() -> None:
    assert presented_key("Bearer abc", {}) == "abc"
    assert presented_key(None, {b"x-api-key": b" xyz "}) == "xyz"
    assert presented_key("Basic abc", {}) == ""
    keys = {"k1": "alice"}
    assert user_for("k1", keys) == "alice"
    assert user_for("k2", keys) is None and user_for("", keys) is None
