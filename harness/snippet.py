"""Snippet profiles: which tracking library a page embeds, how, and which storage keys it uses.

A profile is a folder holding ``profile.toml`` and a jinja2 fragment. ``intilery`` (this project's
library) is the default; users add a folder (or pass a path) for their own analytics.js-compatible
build. The conformance suite only reads the public analytics.js API and these key names, so it
runs unchanged against any library that has a profile.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from harness import resources

ROOT = Path(__file__).resolve().parent.parent
SNIPPETS_DIR = resources.SNIPPETS_DIR  # the checkout's fixtures/snippets/, or the wheel's copy
DEFAULT_PROFILE = "intilery"
DEFAULT_KEYS: dict[str, str] = {
    "anonymous_id": "ajs_anonymous_id",
    "user_id": "ajs_user_id",
    "user_traits": "ajs_user_traits",
    "group_id": "ajs_group_id",
    "group_traits": "ajs_group_properties",
}


class ProfileError(ValueError):
    """A snippet profile that cannot be found or read; the message says which and why."""


@dataclass(frozen=True)
class SnippetProfile:
    """A loaded profile: its folder, template and the storage key names the suite checks."""

    name: str
    folder: Path | None
    template: str | None
    description: str = ""
    keys: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_KEYS))

    @property
    def enabled(self) -> bool:
        return self.template is not None

    def render(self, **context: Any) -> str:
        """The HTML fragment for a page's <head>; empty for the ``none`` profile."""
        if not self.enabled or self.folder is None:
            return ""
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(self.folder)),
            autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
            undefined=jinja2.StrictUndefined,
        )
        return env.get_template(self.template or "").render(**context)

    def asset(self, name: str) -> Path | None:
        """A file inside the profile folder (e.g. the user's own library build), or None."""
        if self.folder is None:
            return None
        path = (self.folder / name).resolve()
        if self.folder.resolve() not in path.parents or not path.is_file():
            return None
        return path


NO_SNIPPET = SnippetProfile(name="none", folder=None, template=None, description="pages without any snippet")


def available() -> list[str]:
    """Names of the bundled profiles."""
    return sorted(p.parent.name for p in SNIPPETS_DIR.glob("*/profile.toml")) + ["none"]


def load_profile(name_or_path: str | None = None) -> SnippetProfile:
    """Load a bundled profile by name, or a profile folder / profile.toml by path."""
    spec = name_or_path or DEFAULT_PROFILE
    if spec == "none":
        return NO_SNIPPET
    candidate = Path(spec)
    if candidate.name == "profile.toml":
        candidate = candidate.parent
    if not candidate.is_dir():
        candidate = SNIPPETS_DIR / spec
    toml = candidate / "profile.toml"
    if not toml.is_file():
        raise ProfileError(f"snippet profile {spec!r} not found (bundled: {', '.join(available())}; "
                           f"or pass a folder holding profile.toml)")
    try:
        data = tomllib.loads(toml.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{toml}: not valid TOML: {exc}") from None
    template = data.get("template", "snippet.html.j2")
    if not (candidate / template).is_file():
        raise ProfileError(f"{toml}: template {template!r} does not exist")
    keys = {**DEFAULT_KEYS, **{k: str(v) for k, v in (data.get("keys") or {}).items()}}
    return SnippetProfile(
        name=str(data.get("name", candidate.name)),
        folder=candidate.resolve(),
        template=template,
        description=str(data.get("description", "")),
        keys=keys,
    )
