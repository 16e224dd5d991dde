"""Storage encodings a profile declares: how a library's stored identity is read back as values."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.sites import storage
from harness.sites.snippet import load_profile


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


# RudderStack v3 values, as measured in Chromium (docs in /work/notes: cookies and the storejs-quoted localStorage form)
@pytest.mark.parametrize(("raw", "value"), [
    ("RS_ENC_v3_IjY3OTEwMGEwLWU0ZDEtNDRjYi1hNTBlLTQxNmQ0NzU1MmViOSI%3D", "679100a0-e4d1-44cb-a50e-416d47552eb9"),
    ("RS_ENC_v3_InUxIg%3D%3D", "u1"),  # strings are JSON-quoted before base64
    ("RS_ENC_v3_eyJuYW1lIjoiWm%2FDqyDmnbHkuqwiLCJuIjo1LCJuZXN0ZWQiOnsiYSI6WzEsMl19fQ%3D%3D",
     {"name": "Zoë 東京", "n": 5, "nested": {"a": [1, 2]}}),
    ('"RS_ENC_v3_InUxIg=="', "u1"),  # storage type localStorage: storejs quotes the value once more
    ("%22u9%22", "u9"),  # StorageEncryption plugin not loaded: plain percent-encoded JSON
    ("%7B%22a%22%3A1%7D", {"a": 1}),
    ('"[]"', []),  # the retry queues in localStorage
    ("RS_ENC_v3_!!!", "RS_ENC_v3_!!!"),  # not base64: shown as stored
    ("plain", "plain"),
])
def test_rs_enc_v3(raw: str, value: object) -> None:
    assert storage.decode(raw, "rs-enc-v3") == value


@pytest.mark.parametrize("value", ["u1", "Zoë 東京", {"plan": "pro", "n": [1, 2]}, 17])
def test_rs_enc_v3_round_trip(value: object) -> None:
    """encode_rs_enc_v3 writes what the SDK reads back (cookie and localStorage forms)."""
    assert storage.decode(storage.encode_rs_enc_v3(value), "rs-enc-v3") == value
    assert storage.decode(storage.encode_rs_enc_v3(value, cookie=False), "rs-enc-v3") == value
    assert storage.encode_rs_enc_v3("u1") == "RS_ENC_v3_InUxIg%3D%3D"


def test_rudderstack_profile_declares_its_encoding() -> None:
    rs = load_profile("rudderstack")
    assert (rs.cookie_encoding, rs.local_encoding) == ("rs-enc-v3", "rs-enc-v3")
    assert rs.decode("rl_user_id", "RS_ENC_v3_InUxIg%3D%3D", "cookie") == "u1"
    assert rs.keys["anonymous_id"] == "rl_anonymous_id" and rs.keys["user_traits"] == "rl_trait"
