"""Storage encodings a profile declares: how a library's stored identity is read back as values."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import storage
from harness.snippet import load_profile


@pytest.mark.parametrize(("encoding", "raw", "value"), [
    ("plain", "%22abc%22", "%22abc%22"),
    ("json", '"abc"', "abc"),
    ("json", '{"plan":"premium"}', {"plan": "premium"}),
    ("json", "not json", "not json"),  # shown as is, so a failing test says what was stored
    ("percent", "peter%40initech.example", "peter@initech.example"),
    ("percent", "97980cfea0067", "97980cfea0067"),
    ("percent-json", "%22abc-123%22", "abc-123"),  # classic analytics.js cookies
    ("percent-json", "%7B%22a%22%3A1%7D", {"a": 1}),
    ("auto", '"abc"', "abc"),
    ("auto", "%22abc%22", "abc"),
    ("auto", "abc", "abc"),
])
def test_decode(encoding: str, raw: str, value: object) -> None:
    assert storage.decode(raw, encoding) == value


def test_none_stays_none_and_unknown_encodings_are_named() -> None:
    assert storage.decode(None, "json") is None
    with pytest.raises(ValueError, match="unknown storage encoding 'rs-enc-v9'; known: auto, json"):
        storage.decode("x", "rs-enc-v9")


def test_a_new_encoding_can_be_registered(tmp_path: Path) -> None:
    """E.g. a prefixed scheme of a library the project has never seen, named per key in its profile."""
    storage.register_encoding("test-prefixed-json", lambda raw: storage.decode(raw.removeprefix("PFX_"), "json"))
    try:
        (tmp_path / "p").mkdir()
        (tmp_path / "p" / "snippet.html.j2").write_text("")
        (tmp_path / "p" / "profile.toml").write_text(
            '[keys]\nanonymous_id = "lib_anon"\n[storage]\ncookie = "plain"\nlocal = "json"\n'
            '[storage.keys.anonymous_id]\nlocal = "test-prefixed-json"\n')
        profile = load_profile(str(tmp_path / "p"))
        assert profile.encoding("anonymous_id", "local") == "test-prefixed-json"
        assert profile.encoding("lib_anon", "local") == "test-prefixed-json", "by storage name too"
        assert profile.encoding("user_traits", "local") == "json" and profile.encoding("lib_anon", "cookie") == "plain"
        assert profile.decode("lib_anon", 'PFX_"a-1"', "local") == "a-1"
        assert profile.decode("lib_anon", '"a-1"', "cookie") == '"a-1"'
    finally:
        del storage.ENCODINGS["test-prefixed-json"]


def test_bundled_profiles_declare_their_library_storage() -> None:
    nxt = load_profile("analytics-next")
    assert (nxt.cookie_encoding, nxt.local_encoding) == ("percent", "json")
    assert nxt.decode("ajs_user_traits", '{"name":"Peter"}', "local") == {"name": "Peter"}
    assert nxt.decode("ajs_user_id", "peter%40initech.example", "cookie") == "peter@initech.example"
