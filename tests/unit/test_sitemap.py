"""Site maps: the bundled ones read, mistakes are one line, a missing flow is MissingFlow (a skip in pytest)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.sites.sitemap import SHOP_MAP, MissingFlow, Person, SiteMapError, load_site_map

FOREIGN = Path(__file__).resolve().parents[2] / "fixtures" / "foreign_site" / "sitemap.toml"


def test_the_shop_and_acme_maps_read_with_their_forms() -> None:
    shop = load_site_map(SHOP_MAP)
    assert shop.signup is not None and shop.signup.user_id_for(Person(user_id="u7")) == "u7"
    acme = load_site_map(FOREIGN).with_url("http://127.0.0.1:9/")
    assert acme.url == "http://127.0.0.1:9" and acme.second == "/pricing"
    assert acme.signup is not None and acme.signup.fields["#join-email"] == "{email}"


def test_a_flow_the_site_lacks_is_missing_flow(tmp_path: Path) -> None:
    path = tmp_path / "pages.toml"
    path.write_text('[site]\nname = "pages only"\n[pages]\nsecond = "/b"\n')
    site = load_site_map(path)
    assert site.landing == "/" and site.third == "/"
    with pytest.raises(MissingFlow, match=r"pages only has no \[signup\] section"):
        site.require("signup")


def test_an_unknown_form_key_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[signup]\nurl = "/join"\nbutton = "#go"\n')
    with pytest.raises(SiteMapError, match="unknown key"):
        load_site_map(path)
