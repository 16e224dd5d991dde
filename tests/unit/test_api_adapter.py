"""A profile's [api]: how the suite reaches a library's public API (analytics.js by default)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.sites.snippet import API_DEFAULTS, Unsupported, load_profile


def test_analytics_js_defaults() -> None:
    api = load_profile("intilery").api
    assert api.global_name == "analytics" and api.expressions == API_DEFAULTS and not api.missing
    assert api.js("anonymous_id") == ('() => { const lib = window["analytics"]; '
                                      'return (lib.user().anonymousId()); }')
    assert api.js("set_anonymous_id", "id").startswith("([id]) => { const lib = window[\"analytics\"];")
    assert load_profile("analytics-next").api == api


def test_rudderstack_getters_and_what_it_lacks() -> None:
    api = load_profile("rudderstack").api
    assert api.global_name == "rudderanalytics"
    assert api.expressions["anonymous_id"] == "lib.getAnonymousId()"
    assert api.expressions["reset"] == "lib.reset()"
    assert not api.has("clear_user_traits") and api.has("user_traits")
    with pytest.raises(Unsupported, match="no clear_user_traits API: RudderStack v3 has no user\\(\\).traits"):
        api.js("clear_user_traits")
    assert isinstance(Unsupported("x", "y"), AssertionError), "a differs xfail (raises=AssertionError) accepts it"


def test_a_profile_overrides_some_entries_and_keeps_the_rest(tmp_path: Path) -> None:
    (tmp_path / "snippet.html.j2").write_text("")
    (tmp_path / "profile.toml").write_text('[api]\nglobal = "acme"\nanonymous_id = "lib.visitorId()"\n'
                                           '[api.missing]\nuser_set_anonymous_id = "acme has no user()"\n')
    api = load_profile(str(tmp_path)).api
    assert api.global_name == "acme" and api.expressions["anonymous_id"] == "lib.visitorId()"
    assert api.expressions["reset"] == "lib.reset()", "the analytics.js default, through the profile's global"
    assert 'window["acme"]' in api.js("reset")
    assert api.missing == {"user_set_anonymous_id": "acme has no user()"}
