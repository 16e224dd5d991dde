"""Steps: a walk on a site as data, one format for site maps, ``harness browse --script`` and the repro.

A real site needs more than "open a page": accept a consent banner, pre-set a cookie, wait for a
single-page app's route. Site-journey tools (Playwright's codegen, synthetic-monitoring journeys)
describe such a walk as a list of actions; so does a site map (TOML, one inline table per step)::

    steps = [
      {goto = "/pricing"},                              # a path on the site, or a full URL
      {click = "#consent-accept", optional = true},      # optional: skipped when not on the page
      {fill = "#email", value = "{email}"},              # placeholders: {name} {email} {slug} {n} {run} {user_id}
      {press = "#email", key = "Enter"},
      {wait_for_selector = "#dashboard"},
      {wait_for_url = "**/dashboard**"},
      {wait_for_ready = true},                           # the library's ready()
      {wait_for_network_idle = true},
      {set_cookie = "consent", value = "yes"},           # on the site's origin
      {set_local_storage = "consent", value = "yes"},    # on the page that is open
      {evaluate = "() => window.scrollTo(0, 500)"},
    ]

Every step takes ``timeout_ms`` (default :data:`DEFAULT_TIMEOUT_MS`). A step compiles to a function of
a Playwright page that returns a value or an awaitable, so the same steps run under the sync API
(pytest, ``harness browse``) and the async one (the repro's parallel trials).
"""

from __future__ import annotations

import inspect
import re
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

DEFAULT_TIMEOUT_MS = 15_000
OPTIONAL_TIMEOUT_MS = 0  # an optional step looks once: a banner that is not there is not waited for
# action -> the key of its second argument ("" = none)
ACTIONS: dict[str, str] = {
    "goto": "", "click": "", "fill": "value", "press": "key", "wait_for_selector": "", "wait_for_url": "",
    "wait_for_ready": "", "wait_for_network_idle": "", "set_cookie": "value", "set_local_storage": "value",
    "evaluate": "",
}
FLAG_ACTIONS = frozenset({"wait_for_ready", "wait_for_network_idle"})  # `= true`, no target
COMMON = frozenset({"optional", "timeout_ms"})
SHORT_FORMS = {"wait-for-url": "wait_for_url", "wait-for": "wait_for_selector", "wait-for-ready": "wait_for_ready",
               "wait-for-network-idle": "wait_for_network_idle", "set-cookie": "set_cookie",
               "set-local-storage": "set_local_storage"}
FLOWS = ("signup", "login", "logout")  # browse scripts may walk a site map's forms by name


class StepError(ValueError):
    """A step list that cannot be run; the message names where and which step."""


class Filler(Protocol):
    """What fills placeholders: a person (harness.sites.sitemap.Person)."""

    def fill(self, template: str) -> str: ...


@dataclass(frozen=True)
class Step:
    """One action on a page."""

    action: str
    target: str = ""  # selector, URL / path / glob, cookie or storage key, JS source
    value: str = ""  # text to fill, key to press, cookie or storage value
    optional: bool = False
    timeout_ms: int | None = None

    @property
    def timeout(self) -> int:
        if self.timeout_ms is not None:
            return self.timeout_ms
        return OPTIONAL_TIMEOUT_MS if self.optional else DEFAULT_TIMEOUT_MS

    def describe(self) -> str:
        extra = f" {self.value!r}" if self.value else ""
        return f"{self.action} {self.target}{extra}".strip()


def parse_step(data: Any, where: str) -> Step:
    """One step from its TOML/JSON table; every mistake is a :class:`StepError` naming ``where``."""
    if isinstance(data, Step):
        return data
    if not isinstance(data, dict):
        raise StepError(f"{where}: a step is a table such as {{click = \"#accept\"}}, got {data!r}")
    actions = [key for key in data if key in ACTIONS]
    if len(actions) != 1:
        raise StepError(f"{where}: a step names exactly one action (one of {', '.join(ACTIONS)}); got "
                        f"{', '.join(sorted(map(str, data))) or 'none'}")
    action = actions[0]
    second = ACTIONS[action]
    unknown = sorted(set(data) - {action, second, *COMMON} - {""})
    if unknown:
        raise StepError(f"{where}: {action} step: unknown key(s) {', '.join(unknown)}")
    target = data[action]
    if action in FLAG_ACTIONS:
        if target is not True:
            raise StepError(f"{where}: write {{{action} = true}}")
        target = ""
    elif not isinstance(target, str) or not target:
        raise StepError(f"{where}: {action} needs a non-empty string")
    if second and second in data and not isinstance(data[second], str):
        raise StepError(f"{where}: {action}'s {second} must be a string")
    if action in ("fill", "press", "set_cookie", "set_local_storage") and second not in data:
        raise StepError(f"{where}: {action} needs {second} = \"...\"")
    optional = data.get("optional", False)
    timeout = data.get("timeout_ms")
    if not isinstance(optional, bool):
        raise StepError(f"{where}: optional must be true or false")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int) or not
                                0 <= timeout <= 600_000):
        raise StepError(f"{where}: timeout_ms must be a whole number of milliseconds, 0..600000")
    return Step(action, target, str(data.get(second, "")) if second else "", optional, timeout)


def parse_steps(data: Any, where: str) -> tuple[Step, ...]:
    """A ``steps = [...]`` list."""
    if data is None:
        return ()
    if not isinstance(data, list):
        raise StepError(f"{where}: steps must be a list of tables, e.g. steps = [{{click = \"#accept\"}}]")
    return tuple(parse_step(item, f"{where} step {i}") for i, item in enumerate(data, 1))


def parse_script(text: str) -> list[Step]:
    """``harness browse --script``: TOML (``steps = [...]``) when the text has a ``steps`` list, else the
    short form, one step per line, shell-quoted (``fill '#email' 'rita@acme.example'``); ``#`` at the
    start of a line and `` # `` after a step are comments (``#id`` selectors are not). The short form
    also takes ``signup``, ``login`` and ``logout`` (the site map's forms)."""
    if re.search(r"^\s*steps\s*=", text, re.M):
        import tomllib

        from harness.userfiles import NestingError, parse_bounded

        try:
            data = parse_bounded(tomllib.loads, text)
        except (tomllib.TOMLDecodeError, NestingError) as exc:
            raise StepError(f"not valid TOML: {exc}") from None
        unknown = sorted(set(data) - {"steps"})
        if unknown:
            raise StepError(f"unknown key(s) {', '.join(unknown)}; a script is steps = [...]")
        return list(parse_steps(data["steps"], "script"))
    steps: list[Step] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = "" if raw.lstrip().startswith("#") else re.sub(r"\s+#\s.*$", "", raw)
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise StepError(f"line {number}: {exc}") from None
        if not words:
            continue
        verb = SHORT_FORMS.get(words[0], words[0].replace("-", "_"))
        if verb in FLOWS:
            if len(words) != 1:
                raise StepError(f"line {number}: {verb} takes no argument")
            steps.append(Step(verb))
            continue
        if verb not in ACTIONS:
            raise StepError(f"line {number}: unknown step {words[0]!r}; one of "
                            f"{', '.join([*(a.replace('_', '-') for a in ACTIONS), *FLOWS])}")
        wants = 0 if verb in FLAG_ACTIONS else 2 if ACTIONS[verb] else 1
        if len(words) - 1 != wants:
            raise StepError(f"line {number}: {words[0]} takes {wants} argument(s), got {len(words) - 1}")
        table: dict[str, Any] = {verb: True} if verb in FLAG_ACTIONS else {verb: words[1]}
        if wants == 2:
            table[ACTIONS[verb]] = words[2]
        steps.append(parse_step(table, f"line {number}"))
    return steps


def absolute(url: str, base_url: str) -> str:
    """A path on the site, or a full URL as given (only a scheme at the start makes it absolute)."""
    return url if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", url) else base_url.rstrip("/") + "/" + url.lstrip("/")


Action = Callable[[Any], Any]  # a page -> a value or an awaitable


def compile_step(step: Step, person: Filler, base_url: str, ready_js: str | None = None) -> Action:
    """The step as a function of a Playwright page (sync or async API alike)."""
    target, value, ms = person.fill(step.target), person.fill(step.value), step.timeout
    action = step.action
    if action == "goto":
        return lambda page: page.goto(absolute(target, base_url), timeout=ms or None)
    if action == "click":
        return lambda page: page.click(target, timeout=ms)
    if action == "fill":
        return lambda page: page.fill(target, value, timeout=ms)
    if action == "press":
        return lambda page: page.press(target, value, timeout=ms)
    if action == "wait_for_selector":
        return lambda page: page.wait_for_selector(target, timeout=ms)
    if action == "wait_for_url":
        return lambda page: page.wait_for_url(target, timeout=ms)
    if action == "wait_for_network_idle":
        return lambda page: page.wait_for_load_state("networkidle", timeout=ms)
    if action == "wait_for_ready":
        if ready_js is None:
            raise StepError("wait_for_ready: no library profile to ask")
        return lambda page: page.evaluate(ready_js, ms)
    if action == "set_cookie":
        cookie = {"name": target, "value": value, "url": base_url}
        return lambda page: page.context.add_cookies([cookie])
    if action == "set_local_storage":
        return lambda page: page.evaluate("([k, v]) => localStorage.setItem(k, v)", [target, value])
    if action == "evaluate":
        return lambda page: page.evaluate(target)
    raise StepError(f"{action}: not a page action")


def _present_now(step: Step, person: Filler) -> Action | None:
    """For an optional step on an element: a check that the element is on the page (else None)."""
    if step.action in ("click", "fill", "press", "wait_for_selector"):
        selector = person.fill(step.target)
        return lambda page: page.locator(selector).first.is_visible()
    return None


def run_steps(page: Any, steps: Iterable[Step], person: Filler, base_url: str, ready_js: str | None = None) -> None:
    """Run ``steps`` on a sync-API page; a failing step raises :class:`StepFailed` naming it."""
    for step in steps:
        probe = _present_now(step, person) if step.optional else None
        if probe is not None and not probe(page):
            continue
        try:
            result = compile_step(step, person, base_url, ready_js)(page)
            _check(step, result)
        except (StepError, StepFailed):
            raise
        except Exception as exc:
            if step.optional:
                continue
            raise StepFailed(step, exc) from None


async def run_steps_async(page: Any, steps: Iterable[Step], person: Filler, base_url: str,
                          ready_js: str | None = None) -> None:
    """:func:`run_steps` for an async-API page."""
    for step in steps:
        probe = _present_now(step, person) if step.optional else None
        if probe is not None and not await probe(page):
            continue
        try:
            result = compile_step(step, person, base_url, ready_js)(page)
            if inspect.isawaitable(result):
                result = await result
            _check(step, result)
        except (StepError, StepFailed):
            raise
        except Exception as exc:
            if step.optional:
                continue
            raise StepFailed(step, exc) from None


def _check(step: Step, result: Any) -> None:
    if step.action == "wait_for_ready" and result is False:
        raise TimeoutError(f"no library on this page was ready within {step.timeout} ms")


class StepFailed(AssertionError):
    """A step could not be done on the page (its selector never appeared, its URL never came, ...)."""

    def __init__(self, step: Step, cause: BaseException) -> None:
        first = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
        super().__init__(f"step {step.describe()} failed: {first}")
        self.step = step


# Resolves true when the page's library is ready (false after ``ms``); a page evaluated at commit has no
# snippet yet, so it waits for the DOM first. __GLOBAL__ / __READY__: the profile's API global and ready().
READY_TEMPLATE = """(ms) => new Promise((resolve) => {
  const timer = setTimeout(() => resolve(false), ms);
  const go = () => {
    const lib = window[__GLOBAL__];
    if (!lib || !lib.ready) { clearTimeout(timer); resolve(false); return; }
    (__READY__)([() => { clearTimeout(timer); resolve(true); }]);
  };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', go, {once: true});
  else go();
})"""


def ready_script(profile: Any) -> str:
    """:data:`READY_TEMPLATE` for a snippet profile (its API global and ``ready`` expression)."""
    import json

    return (READY_TEMPLATE.replace("__GLOBAL__", json.dumps(profile.api.global_name))
            .replace("__READY__", profile.api.js("ready", "callback")))
