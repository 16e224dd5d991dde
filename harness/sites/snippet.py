"""Snippet profiles: which tracking library a page embeds, how, where its files come from, how it stores identity.

A profile is a folder holding ``profile.toml`` and a jinja2 fragment (plus, optionally, the files
and JSON documents the library fetches). ``intilery`` (this project's library) is the default;
users add a folder (or pass a path) for their own library. The conformance suite only reads the
public analytics.js API and what the profile declares, so it runs unchanged against any library
that has a profile. The README's "Writing a snippet profile" section documents every field.

A profile may act as its vendor's CDN: everything under :data:`ASSET_PREFIX` is answered from
the profile's declared ``[[assets]]`` (files, or folders served at any depth) and ``[[routes]]``
(rendered documents such as a settings endpoint). Nothing else is served: no dotfiles, nothing
outside a declared folder, not profile.toml nor the templates. A profile without ``[[assets]]``
serves only its snippet's own entry: the files its template names after ``{{ asset_url }}`` or
``{{ cdn_url }}/``.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import jinja2

from harness import resources
from harness.sites import storage
from harness.userfiles import NestingError, parse_bounded

ROOT = Path(__file__).resolve().parents[2]
SNIPPETS_DIR = resources.SNIPPETS_DIR  # the checkout's fixtures/snippets/, or the wheel's copy
NPM_MODULES = resources.NPM_MODULES  # the 0.2 name; the lookup is resources.npm_modules() (`harness install`)
NPM_SCHEME = "npm:"  # a source path "npm:@scope/pkg/dist/x.js" lives in resources.npm_modules()
ASSET_PREFIX = "/snippet-assets/"
DEFAULT_PROFILE = "intilery"
DEFAULT_KEYS: dict[str, str] = {
    "anonymous_id": "ajs_anonymous_id",
    "user_id": "ajs_user_id",
    "user_traits": "ajs_user_traits",
    "group_id": "ajs_group_id",
    "group_traits": "ajs_group_properties",
}
# template variables a caller may leave out (the harness's own pages always give every one)
OPTIONAL_VARS: dict[str, Any] = {"delivery_mode": None, "cookie_scope": "site", "load_options": {}}
# analytics.js libraries set `initialized` on the object that replaces the loader stub
DEFAULT_NOT_LOADED = "!(window.analytics && window.analytics.initialized)"
DEFAULT_GLOBAL = "analytics"
# The public API the suite uses, as JS expressions run in the page with ``lib`` = ``window[global]``
# (plus ``id`` for the setters and ``callback`` for ready). The defaults are analytics.js's.
API_DEFAULTS: dict[str, str] = {
    "ready": "lib.ready(callback)",
    "anonymous_id": "lib.user().anonymousId()",
    "user_id": "lib.user().id()",
    "user_traits": "lib.user().traits()",
    "group_id": "lib.group().id()",
    "group_traits": "lib.group().traits()",
    "set_anonymous_id": "lib.setAnonymousId(id)",
    "user_set_anonymous_id": "lib.user().anonymousId(id)",
    "clear_user_traits": "lib.user().traits({})",
    "clear_group_traits": "lib.group().traits({})",
    "reset": "lib.reset()",
}
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SEGMENT = re.compile(r"^[A-Za-z0-9_~@+=,:-][A-Za-z0-9_.~@+=,:-]*$")  # no leading dot, no slash, no %


class ProfileError(ValueError):
    """A snippet profile that cannot be found or read; the message says which and why."""


@dataclass(frozen=True)
class Asset:
    """A declared file (``path`` may hold ``{name}`` one-segment placeholders) or folder (``path`` ends in /)."""

    path: str
    source: Path
    folder: bool

    def match(self, parts: list[str]) -> Path | None:
        """The file this asset serves for a request path split into segments, or None."""
        own = [p for p in self.path.split("/") if p]
        if self.folder:
            if len(parts) <= len(own) or parts[:len(own)] != own:
                return None
            return _inside(self.source, parts[len(own):])
        if _match_segments(own, parts) is None:
            return None
        return self.source if self.source.is_file() and not _is_store_file(self.source) else None


@dataclass(frozen=True)
class Route:
    """A declared document rendered from a template of the profile (e.g. the vendor's settings endpoint).

    A path ending in ``/`` matches only a request ending in ``/`` (RudderStack asks for ``.../sourceConfig/``).
    """

    path: str
    template: str
    content_type: str = "application/json"

    def match(self, parts: list[str], slash: bool = False) -> dict[str, str] | None:
        if slash != self.path.endswith("/"):
            return None
        return _match_segments([p for p in self.path.split("/") if p], parts)


@dataclass(frozen=True)
class DeliveryMode:
    """One way the library can be configured to deliver, as the profile declares it."""

    name: str
    summary: str = ""  # how calls travel and what happens on unload, in one sentence (repro explanations)
    hold_ms: int = 0  # the longest the library may hold a call on a page that stays (batching timers)
    unload_safe: bool = False  # the profile claims calls made right before a navigation still arrive


@dataclass(frozen=True)
class Api:
    """How the suite reaches a library's public API (the profile's ``[api]``; analytics.js by default).

    ``global_name`` is the page global every call goes through (``identify``, ``track``, ``page``,
    ``group``, ``alias`` take analytics.js's arguments plus a callback); ``expressions`` are the rest
    (see :data:`API_DEFAULTS`), and ``missing`` names what the library does not have, with why.
    ``script``: a file of the profile every test device runs before any page script (``[api] script``), e.g.
    an adapter that gives a library without analytics.js's API that global on a site the harness does not serve.
    """

    global_name: str = DEFAULT_GLOBAL
    expressions: dict[str, str] = field(default_factory=lambda: dict(API_DEFAULTS))
    missing: dict[str, str] = field(default_factory=dict)
    script: Path | None = None

    def js(self, name: str, *params: str) -> str:
        """A JS function ``(params) => value`` for one API entry; raises :class:`Unsupported` when missing."""
        if name in self.missing:
            raise Unsupported(name, self.missing[name])
        expression = self.expressions.get(name)
        if expression is None:
            raise KeyError(f"unknown API entry {name!r}; known: {', '.join(sorted(API_DEFAULTS))}")
        head = f"([{', '.join(params)}])" if params else "()"
        return f"{head} => {{ const lib = window[{_js_string(self.global_name)}]; return ({expression}); }}"

    def has(self, name: str) -> bool:
        return name not in self.missing and name in self.expressions


class Unsupported(AssertionError):
    """The library has no such API (its profile's ``[api.missing]`` says why). An AssertionError, so a
    test that needs the API fails with that reason. A ``differs`` xfail does not accept it as such: a test
    that measures a missing API as the difference raises ``MeasuredDifference`` from it."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"no {name} API: {reason}")
        self.name = name
        self.reason = reason


def _js_string(text: str) -> str:
    return json.dumps(text)


@dataclass(frozen=True)
class Served:
    """What a request under the asset prefix resolves to: a file, or a route with its path parameters."""

    file: Path | None = None
    route: Route | None = None
    params: dict[str, str] = field(default_factory=dict)


@functools.lru_cache(maxsize=64)
def _templates(folder: str, escape: bool) -> jinja2.Environment:
    """One environment per profile folder, so each snippet template compiles once per process, not per page.

    jinja2 checks a template file's modification time on each load, so an edited profile is still seen.
    """
    return jinja2.Environment(loader=jinja2.FileSystemLoader(folder), undefined=jinja2.StrictUndefined,
                              autoescape=jinja2.select_autoescape(default=True, default_for_string=True)
                              if escape else False)


@dataclass(frozen=True)
class SnippetProfile:
    """A loaded profile: its folder, template, library, files and the storage it declares."""

    name: str
    folder: Path | None
    template: str | None
    description: str = ""
    keys: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_KEYS))
    library: str = ""  # which library the profile embeds (tests of one library's own options name it)
    library_version: str = ""
    not_loaded: str = DEFAULT_NOT_LOADED  # JS expression: true while only the loader stub is on the page
    cookie_encoding: str = "auto"
    local_encoding: str = "auto"
    key_encodings: dict[str, dict[str, str]] = field(default_factory=dict)  # key -> {"cookie"|"local": encoding}
    assets: tuple[Asset, ...] = ()
    routes: tuple[Route, ...] = ()
    delivery: tuple[DeliveryMode, ...] = ()
    default_delivery: str | None = None
    snapshots: str = ""  # folder name under fixtures/snapshots for golden payloads (default: the library)
    intercept: dict[str, tuple[str, ...]] = field(default_factory=dict)  # vendor origins: {"cdn": ..., "api": ...}
    cookie_scopes: tuple[str, ...] = ("site",)  # "host": the template can render the host-only misconfiguration
    api: Api = field(default_factory=Api)
    # what the library's beacons say in context.library.name ("analytics.js"); "" = not declared
    context_name: str = ""
    # [differs]: claim id -> why this library is known to behave otherwise (declared without editing tests)
    differs: dict[str, str] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return self.template is not None

    @property
    def delivery_modes(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.delivery)

    def mode(self, name: str | None) -> DeliveryMode | None:
        return next((m for m in self.delivery if m.name == (name or self.default_delivery)), None)

    def render(self, **context: Any) -> str:
        """The HTML fragment for a page's <head>; empty for the ``none`` profile."""
        if not self.enabled or self.folder is None:
            return ""
        return _templates(str(self.folder), True).get_template(self.template or "").render(
            **{**OPTIONAL_VARS, **context})

    def render_route(self, route: Route, **context: Any) -> str:
        """A declared document (no HTML escaping: it is JSON or the like, and its values come from the harness)."""
        assert self.folder is not None
        return _templates(str(self.folder), False).get_template(route.template).render(
            **{**OPTIONAL_VARS, **context})

    # ---- what the profile serves -----------------------------------------------------------
    def serve(self, tail: str) -> Served | None:
        """What ``ASSET_PREFIX + tail`` answers with, or None: only declared routes and assets, nothing hidden."""
        slash = tail.endswith("/")
        parts = tail[:-1].split("/") if slash else tail.split("/")
        if not tail or not all(_SEGMENT.match(p) for p in parts):
            return None  # empty segments, dotfiles, "..", encoded slashes
        for route in self.routes:
            params = route.match(parts, slash)
            if params is not None:
                return Served(route=route, params=params)
        if slash:
            return None  # a folder itself is never served
        for asset in self.assets:
            found = asset.match(parts)
            if found is not None:
                return Served(file=found)
        return None

    # ---- what the profile stores --------------------------------------------------------------
    def encoding(self, key_or_name: str, place: str) -> str:
        """The declared encoding of a profile key (or storage name) in ``cookie`` or ``local`` storage."""
        key = next((k for k, name in self.keys.items() if key_or_name in (k, name)), key_or_name)
        own = self.key_encodings.get(key, {})
        return own.get(place) or (self.cookie_encoding if place == "cookie" else self.local_encoding)

    def decode(self, name: str, raw: str | None, place: str) -> Any:
        """A stored value as the library meant it (see :mod:`harness.sites.storage`)."""
        return storage.decode(raw, self.encoding(name, place))

    # ---- where a key lives: a storage name, or a field of one record (PostHog's ph_<token>_posthog) ----
    def storage_name(self, key: str) -> str:
        """The cookie / localStorage name (or ``fnmatch`` pattern) a profile key lives in.

        ``[keys] anonymous_id = "ph_*_posthog#$device_id"``: the value is the field ``$device_id`` of the
        JSON record stored under the name matching ``ph_*_posthog`` (the name holds the project token).
        """
        return self.keys.get(key, key).split("#", 1)[0]

    def owns(self, key: str, name: str) -> bool:
        """Whether a stored entry called ``name`` holds the profile key ``key``."""
        pattern = self.storage_name(key)
        return name == pattern or ("*" in pattern and fnmatch.fnmatchcase(name, pattern))

    def lookup(self, key: str, entries: dict[str, Any]) -> Any:
        """A profile key's value among decoded entries (:meth:`Device.cookies` / ``local_storage``), or None.

        A ``name#field`` key reads that field of the record; ``name#field?other=value`` reads it only while
        the record's ``other`` is ``value`` (PostHog keeps ``distinct_id`` for anonymous people too: it is the
        user id only while ``$user_state`` is ``identified``). A record that is not an object has no field.
        """
        spec = self.keys.get(key, key)
        name = next((n for n in entries if self.owns(key, n)), None)
        if name is None:
            return None
        value = entries[name]
        if "#" not in spec:
            return value
        field_spec = spec.split("#", 1)[1]
        field_name, _, condition = field_spec.partition("?")
        if not isinstance(value, dict):
            return None
        if condition:
            other, _, wanted = condition.partition("=")
            if str(value.get(other)) != wanted:
                return None
        return value.get(field_name)


def _match_segments(pattern: list[str], parts: list[str]) -> dict[str, str] | None:
    if len(pattern) != len(parts):
        return None
    params: dict[str, str] = {}
    for want, got in zip(pattern, parts, strict=True):
        regex = "^" + _PLACEHOLDER.sub(lambda m: f"(?P<{m.group(1)}>[^/]+)", re.escape(want).replace(
            r"\{", "{").replace(r"\}", "}")) + "$"
        found = re.match(regex, got)
        if not found:
            return None
        params.update(found.groupdict())
    return params


def _inside(folder: Path, parts: list[str]) -> Path | None:
    """``folder/parts`` when it is a regular file really inside ``folder`` (symlinks resolved), else None."""
    base = folder.resolve()
    path = base.joinpath(*parts).resolve()
    if not path.is_relative_to(base) or path == base or not path.is_file():
        return None
    if path.name == "profile.toml" or path.suffix == ".j2" or _is_store_file(path):
        return None  # a folder declared as "." must not serve the profile itself, nor a --db kept there
    return path


_STORE_MAGIC = (b"SQLite format 3\x00", b"\x37\x7f\x06\x82", b"\x37\x7f\x06\x83")  # a database, its WAL


def _is_store_file(path: Path) -> bool:
    """A SQLite database or WAL (a beacon store: e-mails, user ids), by its first bytes, or a -shm index."""
    if path.name.endswith("-shm"):
        return True
    try:
        with path.open("rb") as fh:
            head = fh.read(16)
    except OSError:
        return True
    return head.startswith(_STORE_MAGIC)


NO_SNIPPET = SnippetProfile(name="none", folder=None, template=None, description="pages without any snippet",
                            library="none")


def available() -> list[str]:
    """Names of the bundled profiles."""
    return sorted(p.parent.name for p in SNIPPETS_DIR.glob("*/profile.toml")) + ["none"]


def is_bundled(profile: SnippetProfile) -> bool:
    """Whether the profile is one the harness ships (``none`` included), not a user's own folder."""
    folder = profile.folder
    return folder is None or folder.resolve() == (SNIPPETS_DIR / profile.name).resolve()


CLAIM_ID = re.compile(r"^C([1-9]|1[0-9]|2[0-6])$")  # the claims table's rows, C1-C26


def _differs(data: dict[str, Any], toml: Path) -> dict[str, str]:
    """``[differs]``: ``C20 = "reason"`` per claim the library is known to behave otherwise on."""
    section = data.get("differs") or {}
    if not isinstance(section, dict):
        raise ProfileError(f"{toml}: 'differs' must be a table ([differs]) of claim = \"reason\"")
    bad = [str(k) for k in section if not CLAIM_ID.match(str(k))]
    empty = [str(k) for k, v in section.items() if CLAIM_ID.match(str(k)) and not (isinstance(v, str) and v.strip())]
    if bad or empty:
        parts = ([f"unknown claim id(s) {', '.join(bad)} (claims are C1-C26)"] if bad else []) + (
            [f"{', '.join(empty)} need(s) a reason string quoting the measured behaviour"] if empty else [])
        raise ProfileError(f"{toml}: [differs] {'; '.join(parts)}, e.g. C20 = \"sends no sentAt\"")
    return {str(k): str(v).strip() for k, v in section.items()}


def _source(folder: Path, spec: str, toml: Path) -> Path:
    """A declared source path: relative to the profile folder, or ``npm:`` (fetched by ``harness install``)."""
    if spec.startswith(NPM_SCHEME):
        rel = spec[len(NPM_SCHEME):].lstrip("/")
        modules = resources.npm_modules()
        path = modules / rel
        if not path.resolve().is_relative_to(modules.resolve()):  # npm:../../etc/passwd
            raise ProfileError(f"{toml}: asset source {spec!r} is outside the npm packages folder")
        if not path.exists():
            package = "/".join(PurePosixPath(rel).parts[:2 if rel.startswith("@") else 1])
            raise ProfileError(f"{package} (profile {folder.name}) is not installed: run `harness install "
                               f"{folder.name}` (it fetches the pinned npm packages into {modules.parent})")
        return path.resolve()
    path = (folder / spec).resolve()
    if not path.is_relative_to(folder.resolve()):
        raise ProfileError(f"{toml}: asset source {spec!r} is outside the profile folder (use npm: for packages)")
    if not path.exists():
        raise ProfileError(f"{toml}: asset source {spec!r} does not exist")
    return path


# what a snippet template loads from the asset prefix: {{ asset_url }}lib.js or {{ cdn_url }}/lib.js
_ENTRY = re.compile(r"\{\{\s*(?:asset_url\s*\}\}|cdn_url\s*\}\}/)([A-Za-z0-9_~@+=,:-][A-Za-z0-9_.~@+=,:/-]*)")


def _entries(folder: Path, template: str, hidden: set[str]) -> tuple[Asset, ...]:
    """A profile without ``[[assets]]`` serves only its snippet's own entry: the files its template names.

    Serving the whole folder leaked whatever else lived there (a ``--db`` kept beside the profile).
    """
    out: list[Asset] = []
    for rel in sorted(set(_ENTRY.findall((folder / template).read_text(errors="replace")))):
        parts = rel.split("/")
        if rel in hidden or rel.endswith(".j2") or not all(_SEGMENT.match(p) for p in parts):
            continue
        found = _inside(folder, parts)
        if found is not None:
            out.append(Asset(rel, found, False))
    return tuple(out)


def _assets(data: dict[str, Any], folder: Path, toml: Path, hidden: set[str], template: str) -> tuple[Asset, ...]:
    declared = data.get("assets")
    if declared is None:
        return _entries(folder, template, hidden)
    if not isinstance(declared, list):
        raise ProfileError(f"{toml}: 'assets' must be an array of tables ([[assets]])")
    out: list[Asset] = []
    for item in declared:
        path = str(item.get("path", "")).lstrip("/")
        if "dir" in item:
            out.append(Asset(path if path.endswith("/") or not path else path + "/",
                             _source(folder, str(item["dir"]), toml), True))
        elif "file" in item:
            if not path or path.endswith("/"):
                raise ProfileError(f"{toml}: a file asset needs a 'path' naming the file (got {path!r})")
            out.append(Asset(path, _source(folder, str(item["file"]), toml), False))
        else:
            raise ProfileError(f"{toml}: each [[assets]] needs 'file' or 'dir'")
        if any(p.startswith(".") for p in path.split("/") if p):
            raise ProfileError(f"{toml}: asset path {path!r} has a dot segment")
    return tuple(out)


def _routes(data: dict[str, Any], folder: Path, toml: Path) -> tuple[Route, ...]:
    out: list[Route] = []
    for item in data.get("routes") or []:
        path, template = str(item.get("path", "")).lstrip("/"), str(item.get("template", ""))
        if not path or not template:
            raise ProfileError(f"{toml}: each [[routes]] needs 'path' and 'template'")
        _check_template_name(folder, template, toml)
        if not (folder / template).is_file():
            raise ProfileError(f"{toml}: route template {template!r} does not exist")
        out.append(Route(path, template, str(item.get("content_type", "application/json"))))
    return tuple(out)


def _delivery(data: dict[str, Any], toml: Path) -> tuple[tuple[DeliveryMode, ...], str | None]:
    section = data.get("delivery") or {}
    modes = []
    for name, spec in (section.get("modes") or {}).items():
        spec = spec if isinstance(spec, dict) else {"summary": str(spec)}
        modes.append(DeliveryMode(str(name), str(spec.get("summary", "")), int(spec.get("hold_ms", 0)),
                                  bool(spec.get("unload_safe", False))))
    default = section.get("default")
    if default is not None and default not in {m.name for m in modes}:
        raise ProfileError(f"{toml}: delivery default {default!r} is not one of its [delivery.modes]")
    return tuple(modes), default


def _encodings(data: dict[str, Any], toml: Path) -> tuple[str, str, dict[str, dict[str, str]]]:
    section = data.get("storage") or {}
    cookie = str(section.get("cookie", section.get("encoding", "auto")))
    local = str(section.get("local", section.get("encoding", "auto")))
    per_key = {str(k): {p: str(v[p]) for p in storage.PLACES if p in v}
               for k, v in (section.get("keys") or {}).items() if isinstance(v, dict)}
    for name in [cookie, local, *(e for v in per_key.values() for e in v.values())]:
        if name not in storage.ENCODINGS:
            raise ProfileError(f"{toml}: unknown storage encoding {name!r}; known: "
                               f"{', '.join(sorted(storage.ENCODINGS))}")
    return cookie, local, per_key


_GLOBAL = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")


def _api(data: dict[str, Any], toml: Path) -> Api:
    section = data.get("api") or {}
    if not isinstance(section, dict):
        raise ProfileError(f"{toml}: 'api' must be a table ([api])")
    global_name = str(section.get("global", DEFAULT_GLOBAL))
    if not _GLOBAL.match(global_name):
        raise ProfileError(f"{toml}: [api] global {global_name!r} is not a JavaScript identifier")
    missing_section = section.get("missing") or {}
    if not isinstance(missing_section, dict):
        raise ProfileError(f"{toml}: [api.missing] must be a table of name = \"why\"")
    expressions = dict(API_DEFAULTS)
    script = None
    if "script" in section:
        script = _inside(toml.parent, [p for p in str(section["script"]).split("/") if p])
        if script is None or not _SEGMENT.match(script.name):
            raise ProfileError(f"{toml}: [api] script {section['script']!r} is not a file of the profile folder")
    for key, value in section.items():
        if key in ("global", "missing", "script"):
            continue
        if key not in API_DEFAULTS:
            raise ProfileError(f"{toml}: unknown [api] entry {key!r}; known: global, missing, script, "
                               f"{', '.join(sorted(API_DEFAULTS))}")
        expressions[key] = str(value)
    missing = {}
    for key, why in missing_section.items():
        if key not in API_DEFAULTS:
            raise ProfileError(f"{toml}: unknown [api.missing] entry {key!r}; known: {', '.join(sorted(API_DEFAULTS))}")
        if key in section:
            raise ProfileError(f"{toml}: [api] {key} is both given and listed in [api.missing]")
        missing[key] = str(why)
    return Api(global_name, expressions, missing, script)


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
        data = parse_bounded(tomllib.loads, toml.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, NestingError) as exc:  # 5,000 levels: one line
        raise ProfileError(f"{toml}: not valid TOML: {exc}") from None
    if (mistake := _shape_error(data)) is not None:
        raise ProfileError(f"{toml}: {mistake}")
    folder = candidate.resolve()
    template = data.get("template", "snippet.html.j2")
    _check_template_name(folder, template, toml)
    if not (folder / template).is_file():
        raise ProfileError(f"{toml}: template {template!r} does not exist")
    keys = {**DEFAULT_KEYS, **{k: str(v) for k, v in (data.get("keys") or {}).items()}}
    library = data.get("library") or {}
    if not isinstance(library, dict):
        raise ProfileError(f"{toml}: 'library' must be a table ([library])")
    routes = _routes(data, folder, toml)
    hidden = {"profile.toml", template, *(r.template for r in routes)}
    modes, default = _delivery(data, toml)
    cookie, local, per_key = _encodings(data, toml)
    name = str(data.get("name", candidate.name))
    library_name = str(library.get("name", name))
    return SnippetProfile(
        name=name,
        folder=folder,
        template=template,
        description=str(data.get("description", "")),
        keys=keys,
        library=library_name,
        library_version=str(library.get("version", "")),
        not_loaded=str(library.get("not_loaded", DEFAULT_NOT_LOADED)),
        cookie_encoding=cookie,
        local_encoding=local,
        key_encodings=per_key,
        assets=_assets(data, folder, toml, hidden, template),
        routes=routes,
        delivery=modes,
        default_delivery=default,
        snapshots=str(data.get("snapshots", library_name)),
        cookie_scopes=tuple(str(x) for x in library.get("cookie_scopes", ["site"])),
        intercept=_intercept(data, toml),
        api=_api(data, toml),
        context_name=str(library.get("context_name", "")),
        differs=_differs(data, toml),
    )


# profile.toml's tables and values by the type they must have: a wrong one is one ProfileError line
_TOP_TYPES: dict[str, type | tuple[type, ...]] = {
    "name": str, "template": str, "description": str, "snapshots": str, "keys": dict, "library": dict,
    "assets": list, "routes": list, "delivery": dict, "storage": dict, "api": dict, "intercept": dict,
    "differs": dict}
_NAMES = {dict: "a table", list: "an array", str: "a string", int: "a whole number"}


def _shape_error(data: dict[str, Any]) -> str | None:
    """What in ``data`` has the wrong type (the first one), or None."""
    def wrong(where: str, value: Any, kind: type) -> str | None:
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        return None if ok else f"{where} must be {_NAMES[kind]}, not {type(value).__name__} {str(value)[:40]!r}"

    checks: list[tuple[str, Any, type]] = [(k, data[k], t) for k, t in _TOP_TYPES.items()  # type: ignore[misc]
                                           if k in data]
    if isinstance(data.get("keys"), dict):
        checks += [(f"[keys] {k}", v, str) for k, v in data["keys"].items()]
    for table in ("assets", "routes"):
        if isinstance(data.get(table), list):
            checks += [(f"[[{table}]] {i}", item, dict) for i, item in enumerate(data[table], 1)]
            checks += [(f"[[{table}]] {i} {k}", item[k], str) for i, item in enumerate(data[table], 1)
                       if isinstance(item, dict) for k in ("path", "file", "dir", "template", "content_type")
                       if k in item]
    library = data.get("library")
    if isinstance(library, dict):
        checks += [(f"[library] {k}", library[k], str) for k in ("name", "version", "not_loaded", "context_name")
                   if k in library]
        if "cookie_scopes" in library:
            scopes = library["cookie_scopes"]
            checks.append(("[library] cookie_scopes", scopes, list))
            checks += [("[library] cookie_scopes", v, str) for v in scopes] if isinstance(scopes, list) else []
    delivery = data.get("delivery")
    if isinstance(delivery, dict):
        modes = delivery.get("modes", {})
        checks.append(("[delivery] modes", modes, dict))
        for name, spec in modes.items() if isinstance(modes, dict) else ():
            if isinstance(spec, dict) and "hold_ms" in spec:
                checks.append((f"[delivery.modes.{name}] hold_ms", spec["hold_ms"], int))
    storage_table = data.get("storage")
    if isinstance(storage_table, dict) and "keys" in storage_table:
        checks.append(("[storage] keys", storage_table["keys"], dict))
    for where, value, kind in checks:
        if (found := wrong(where, value, kind)) is not None:
            return found
    return None


def _check_template_name(folder: Path, template: str, toml: Path) -> None:
    """A template is a file of the profile folder: jinja2 would refuse ``..`` only later, at the first page."""
    if PurePosixPath(template).is_absolute() or ".." in PurePosixPath(template).parts:
        raise ProfileError(f"{toml}: template {template!r} must be a file inside the profile folder")


def _intercept(data: dict[str, Any], toml: Path) -> dict[str, tuple[str, ...]]:
    """``[intercept]``: the vendor origins this profile stands in for when the harness tests any site.

    ``cdn`` prefixes are answered from the profile's assets and routes (path after the prefix),
    ``api`` prefixes go to the collector (see :mod:`harness.sites.intercept`).
    """
    section = data.get("intercept") or {}
    if not isinstance(section, dict):
        raise ProfileError(f"{toml}: 'intercept' must be a table ([intercept])")
    out: dict[str, tuple[str, ...]] = {}
    for kind in ("cdn", "api"):
        values = section.get(kind, [])
        if not isinstance(values, list) or not all(isinstance(v, str) and "://" in v for v in values):
            raise ProfileError(f"{toml}: [intercept] {kind} must be a list of URL prefixes such as "
                               f"\"https://cdn.example.com/\"")
        out[kind] = tuple(values)
    mount = section.get("mount")  # where the harness answers the api hosts (their path kept), e.g. "/posthog/"
    if mount is not None:
        if not (isinstance(mount, str) and mount.startswith("/") and mount.endswith("/") and len(mount) > 2
                and all(_SEGMENT.match(p) for p in mount.strip("/").split("/"))):
            raise ProfileError(f"{toml}: [intercept] mount must be a harness path such as \"/posthog/\"")
        out["mount"] = (mount,)
    unknown = sorted(set(section) - {"cdn", "api", "mount"})
    if unknown:
        raise ProfileError(f"{toml}: [intercept] has unknown key(s) {', '.join(unknown)}; known: cdn, api, mount")
    return out


def library_mismatch(profile: SnippetProfile, records: list[dict[str, Any]]) -> str:
    """Why beacons captured with ``profile`` were not sent by its library, or "" when they were.

    The library a result is reported under must be the one that ran: each browser beacon's
    ``context.library.name`` is compared with the profile's ``[library] context_name``. A profile that
    declares none is held to the bundled profiles' names: beacons naming another bundled library
    (``analytics.js`` under a user's own profile) are a mismatch.
    """
    names = sorted({str(r["context"]["library"]["name"]) for r in records
                    if (r.get("_meta") or {}).get("transport") != "server"  # a server library's own calls
                    and isinstance(r.get("context"), dict) and isinstance(r["context"].get("library"), dict)
                    and r["context"]["library"].get("name")})
    if not names or not profile.enabled:
        return ""
    if profile.context_name:
        wrong = [n for n in names if n != profile.context_name]
        expected = f"its [library] context_name {profile.context_name!r}"
    else:
        others = {n: owner for n, (owner, library) in _bundled_context_names().items() if library != profile.library}
        wrong = [n for n in names if n in others]
        expected = f"its library {profile.library!r} (profile {profile.name}), not the bundled " + ", ".join(
            sorted({others[n] for n in wrong}))
    if not wrong:
        return ""
    return (f"the beacons were sent by {', '.join(repr(n) for n in wrong)} (context.library.name), but "
            f"--snippet {profile.name} declares {expected}: results would be reported under the wrong library. "
            f"Another profile answered this page's vendor hosts, or the page embeds another library; if "
            f"{wrong[0]!r} is your library's own name, declare it: [library] context_name = {wrong[0]!r}")


@functools.lru_cache(maxsize=1)
def _bundled_context_names() -> dict[str, tuple[str, str]]:
    """context.library.name -> (bundled profile, its library), for the profiles that declare one."""
    found: dict[str, tuple[str, str]] = {}
    for name in available():
        try:
            other = load_profile(name)
        except ProfileError:
            continue
        if other.context_name:
            found.setdefault(other.context_name, (other.name, other.library))
    return found
