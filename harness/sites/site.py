"""The sample shop: jinja2 pages that embed the selected snippet and make the seeds' calls.

Each page's tracking calls are the ones the source documents describe (page on every view,
identify on sign-up / login / profile change, reset on logout, track with an anonymized ip
on checkout). The sign-up page implements the four flows the loss experiment compares.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
import jinja2
from aiohttp import web

from harness import keys, resources
from harness.collecting.collector import DEVICE_COOKIE, device_id
from harness.collecting.faults import FaultAction
from harness.collecting.transport import is_collector_path
from harness.sites.serverlib import ServerAnalytics
from harness.sites.snippet import ASSET_PREFIX

STATIC_DIR = resources.STATIC_DIR  # the checkout's static/, or the wheel's copy
TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "templates"
LIBRARY_FILE = "intilery.js"
SESSION_COOKIE = "hx_session"
DELIVERY_COOKIE = "hx_delivery"
FLOWS = ("js-redirect", "form-post", "welcome-page", "server-side")
TWENTY_YEARS = 20 * 365 * 24 * 3600

PRODUCTS: dict[str, dict[str, Any]] = {
    "p1": {"id": "p1", "name": "Red Stapler", "price": 12.5, "category": "Office"},
    "p2": {"id": "p2", "name": "TPS Report Covers", "price": 4.0, "category": "Office"},
    "p3": {"id": "p3", "name": "Flair Pin Set", "price": 7.25, "category": "Apparel"},
    "p4": {"id": "p4", "name": "Jump to Conclusions Mat", "price": 29.0, "category": "Games"},
}


def new_user_id() -> str:
    """A database-style id like the seeds' '97980cfea0067' (static, opaque: best practice)."""
    return uuid.uuid4().hex[:13]


def _origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _delivery(request: web.Request) -> str | None:
    """The delivery mode asked for (``?delivery=`` or its cookie), if the profile declares it."""
    modes = request.app[keys.PROFILE].delivery_modes
    mode = request.query.get("delivery") or request.cookies.get(DELIVERY_COOKIE)
    if mode in modes:
        return mode
    default = request.app[keys.CONFIG].default_delivery
    return default if default in modes else None


def template_vars(request: web.Request) -> dict[str, Any]:
    """What a profile's snippet and documents are rendered with (the README lists each one)."""
    config = request.app[keys.CONFIG]
    profile = request.app[keys.PROFILE]
    collector = (config.collector_url or _origin(request)).rstrip("/")
    parts = urlsplit(collector)
    asset_origin = _origin(request)
    options: dict[str, Any] = {}
    mode = _delivery(request)
    if mode:
        options["delivery"] = mode
    return {
        "collector_url": collector,
        "collector_origin": f"{parts.scheme}://{parts.netloc}",
        "collector_host": parts.netloc,
        "collector_scheme": parts.scheme,
        "write_key": config.write_key or "harness-dev-key",
        "library_url": f"/static/{LIBRARY_FILE}",
        "asset_url": ASSET_PREFIX,
        "asset_origin": asset_origin,
        "cdn_url": asset_origin + ASSET_PREFIX.rstrip("/"),
        "load_options": options,
        "delivery_mode": mode or profile.default_delivery,
        # "site": id cookies on the registrable domain (the norm); "host": host-only, the subdomain
        # misconfiguration a test asks for with Config(extra={"cookie_scope": "host"})
        "cookie_scope": config.extra.get("cookie_scope", "site"),
    }


def snippet_html(request: web.Request) -> str:
    """Render the selected profile's fragment for this request's origin and delivery mode."""
    return request.app[keys.PROFILE].render(**template_vars(request))


def _user(request: web.Request) -> dict[str, Any] | None:
    user_id = request.cookies.get(SESSION_COOKIE)
    return request.app[keys.USERS].get(user_id) if user_id else None


def _ctx(request: web.Request, **extra: Any) -> dict[str, Any]:
    profile = request.app[keys.PROFILE]
    # the page global the site's own calls go through: window[tracker] (the profile's [api] global)
    return {"snippet": snippet_html(request), "user": _user(request), "products": PRODUCTS,
            "profile_name": profile.name, "tracker": profile.api.global_name, **extra}


def _server_library(request: web.Request) -> ServerAnalytics:
    config = request.app[keys.CONFIG]
    return ServerAnalytics(config.self_url, config.write_key or "harness-dev-key")


def _redirect(location: str) -> web.HTTPFound:
    return web.HTTPFound(location)


@aiohttp_jinja2.template("home.html")
async def home(request: web.Request) -> dict[str, Any]:
    return _ctx(request, signed_up=request.query.get("signed_up"))


@aiohttp_jinja2.template("product.html")
async def product(request: web.Request) -> dict[str, Any]:
    item = PRODUCTS.get(request.match_info["pid"])
    if item is None:
        raise web.HTTPNotFound(text="no such product")
    return _ctx(request, product=item)


@aiohttp_jinja2.template("cart.html")
async def cart(request: web.Request) -> dict[str, Any]:
    return _ctx(request)


@aiohttp_jinja2.template("signup.html")
async def signup_form(request: web.Request) -> dict[str, Any]:
    flow = request.query.get("flow", "welcome-page")
    if flow not in FLOWS:
        raise web.HTTPBadRequest(text=f"unknown flow {flow!r}; one of {', '.join(FLOWS)}")
    return _ctx(request, flow=flow, uid=request.query.get("uid") or new_user_id())


async def signup_submit(request: web.Request) -> web.StreamResponse:
    """The server side of every sign-up flow: create the user, then redirect."""
    form = await request.post()
    flow = str(form.get("flow", "welcome-page"))
    uid = str(form.get("uid") or new_user_id())
    traits = {"name": str(form.get("name", "")), "email": str(form.get("email", "")),
              "plan": str(form.get("plan", "premium"))}
    request.app[keys.USERS][uid] = {"id": uid, **traits}
    if flow == "server-side":
        # Server libraries have no anonymousId of their own: reuse the browser's (C16), read from its
        # cookie as the profile declares the library encodes it (RudderStack's is RS_ENC_v3_ + base64).
        profile = request.app[keys.PROFILE]
        stored = profile.lookup("anonymous_id", {n: profile.decode(n, v, "cookie") for n, v in request.cookies.items()
                                                 if profile.owns("anonymous_id", n)})
        anon = (str(stored).strip('"') if isinstance(stored, str | int) and stored != "" else None) or \
            request.cookies.get(DEVICE_COOKIE) or secrets.token_hex(8)
        client = _server_library(request)
        await client.identify(uid, traits, anonymous_id=anon)
        await client.track("Signed Up", {"plan": traits["plan"]}, user_id=uid, anonymous_id=anon)
        target = "/welcome?flow=server-side"
    elif flow == "welcome-page":
        target = f"/welcome?flow=welcome-page&uid={uid}"
    else:  # js-redirect never posts; form-post: the page already made its calls on submit
        target = "/?signed_up=1"
    response = _redirect(target)
    response.set_cookie(SESSION_COOKIE, uid, path="/", samesite="Lax")
    raise response


@aiohttp_jinja2.template("welcome.html")
async def welcome(request: web.Request) -> dict[str, Any]:
    flow = request.query.get("flow", "")
    uid = request.query.get("uid", "")
    user = request.app[keys.USERS].get(uid) if uid else None
    return _ctx(request, flow=flow, new_user=user if flow == "welcome-page" else None)


LOGIN_ACCOUNTS_SHOWN = 5  # the login page lists the latest accounts, so a person knows what to type


@aiohttp_jinja2.template("login.html")
async def login_form(request: web.Request) -> dict[str, Any]:
    accounts = list(request.app[keys.USERS].values())[-LOGIN_ACCOUNTS_SHOWN:]
    return _ctx(request, error=None, accounts=accounts[::-1])


async def login_submit(request: web.Request) -> web.StreamResponse:
    """Log in by email (the account made at sign-up) or by user id; an unknown email gets a new account."""
    form = await request.post()
    users = request.app[keys.USERS]
    given = str(form.get("uid", "")).strip()
    if not given:
        raise _redirect("/login")
    by_email = next((u for u in reversed(users.values()) if str(u.get("email", "")).lower() == given.lower()),
                    None)  # the latest account with this email
    if by_email is not None:
        uid = str(by_email["id"])
    elif "@" in given:  # a new person: a database-style id, the email as a trait (never the email as userId)
        uid = new_user_id()
        users[uid] = {"id": uid, "name": "", "email": given, "plan": "free"}
    else:
        uid = given
    users.setdefault(uid, {"id": uid, "name": "", "email": "", "plan": "free"})
    response = _redirect("/account?login=1")
    response.set_cookie(SESSION_COOKIE, uid, path="/", samesite="Lax")
    raise response


@aiohttp_jinja2.template("logout.html")
async def logout(request: web.Request) -> dict[str, Any]:
    response_ctx = _ctx(request)
    response_ctx["user"] = None
    return response_ctx


async def logout_and_clear(request: web.Request) -> web.StreamResponse:
    response = await logout(request)
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


@aiohttp_jinja2.template("account.html")
async def account(request: web.Request) -> dict[str, Any]:
    user = _user(request)
    if user is None:
        raise _redirect("/login")
    event = "login" if request.query.get("login") else "updated" if request.query.get("updated") else None
    return _ctx(request, identify_now=event)


async def account_update(request: web.Request) -> web.StreamResponse:
    user = _user(request)
    if user is None:
        raise _redirect("/login")
    form = await request.post()
    for field in ("name", "email", "plan"):
        if field in form:
            user[field] = str(form[field])
    raise _redirect("/account?updated=1")


@aiohttp_jinja2.template("checkout.html")
async def checkout_complete(request: web.Request) -> dict[str, Any]:
    return _ctx(request, order_id=f"o-{secrets.token_hex(4)}")


@aiohttp_jinja2.template("offer.html")
async def offer(request: web.Request) -> dict[str, Any]:
    """Anti-pattern (C15): the server mints an anonymousId and hands it to the browser."""
    server_anon = str(uuid.uuid4())
    client = _server_library(request)
    await client.track("Offer Viewed", {"offer": "spring"}, anonymous_id=server_anon)
    return _ctx(request, server_anon=server_anon)


async def _library_fault(request: web.Request, extra_delay_ms: int = 0) -> web.StreamResponse | None:
    """Apply the library-file faults (a slow, failing or unreachable CDN) to this request.

    Returns the response to send instead of the file, or None to serve it.
    """
    action: FaultAction = request.app[keys.FAULTS].take_script()
    delay = max(action.delay_ms, extra_delay_ms)
    if delay > 0:
        await asyncio.sleep(delay / 1000)
    if action.drop:
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError  # a connection that dies: the browser sees a network error
    if action.status:
        return web.Response(status=action.status, text=f"fault: status {action.status}")
    return None


def _no_store(response: web.StreamResponse) -> web.StreamResponse:
    """Library files are fetched every time, so faults and delays apply to every page."""
    response.headers["Cache-Control"] = "no-store"
    return response


async def library_script(request: web.Request) -> web.StreamResponse:
    """Serve static/intilery.js, slowly under the script-delay fault (or ``?delay_ms=``): a slow CDN."""
    try:
        delay = min(int(request.query.get("delay_ms", "0")), 60_000)
    except ValueError:
        delay = 0
    if (faulted := await _library_fault(request, delay)) is not None:
        return faulted
    return _no_store(web.FileResponse(STATIC_DIR / LIBRARY_FILE))


async def snippet_asset(request: web.Request) -> web.StreamResponse:
    """The profile as its vendor's CDN: a declared file, or a declared document (e.g. settings), nothing else."""
    profile = request.app[keys.PROFILE]
    served = profile.serve(request.match_info["tail"])
    if served is None:
        raise web.HTTPNotFound(text="not a file or route this snippet profile declares")
    if (faulted := await _library_fault(request)) is not None:
        return faulted
    if served.route is not None:
        text = profile.render_route(served.route, **template_vars(request), params=served.params)
        return _no_store(web.Response(text=text, content_type=served.route.content_type,
                                      headers={"Access-Control-Allow-Origin": "*"}))
    assert served.file is not None
    response = web.FileResponse(served.file)
    if served.file.suffix in (".js", ".mjs"):  # module scripts (import()) need a JavaScript type, whatever the OS maps
        response.content_type = "text/javascript"
    response.headers["Access-Control-Allow-Origin"] = "*"  # a CDN: scripts may be loaded cross-origin
    return _no_store(response)


@web.middleware
async def device_cookie(request: web.Request, handler: Any) -> web.StreamResponse:
    """Give every browser a harness-side device id (like a collector's network user id).

    It lets analysis tell which browser profile sent a beacon without trusting the library.
    """
    response = await handler(request)
    add_cookies(request, response)
    return response


def add_cookies(request: web.Request, response: web.StreamResponse) -> None:
    """What :func:`device_cookie` adds to a response: the device id if the browser has none, the ?delivery= mode."""
    wants_device = request.method == "GET" or is_collector_path(request.path)
    if wants_device and not request.path.startswith("/api/") and device_id(request) is None:
        _set_device_cookie(request, response)
    delivery = request.query.get("delivery")
    if delivery is not None and delivery in request.app[keys.PROFILE].delivery_modes:
        response.set_cookie(DELIVERY_COOKIE, request.query["delivery"], path="/", samesite="Lax")


def _set_device_cookie(request: web.Request, response: web.StreamResponse) -> None:
    host = request.host.rsplit(":", 1)[0]
    labels = host.split(".")
    domain = ".".join(labels[-2:]) if len(labels) >= 3 and not host.replace(".", "").isdigit() else None
    response.set_cookie(DEVICE_COOKIE, uuid.uuid4().hex, path="/", max_age=TWENTY_YEARS, samesite="Lax",
                        httponly=True, domain=domain)


class _CompiledTemplates(jinja2.BytecodeCache):
    """Compiled templates shared by every app in the process.

    Each app has its own jinja2 environment (aiohttp_jinja2 puts the app in its globals), so each would
    compile every template again; a test session starts dozens of servers. jinja2 still checks each
    template's source checksum, so an edited template is compiled afresh.
    """

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        with self._lock:
            code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        code = bucket.bytecode_to_string()
        with self._lock:
            self._code[bucket.key] = code


_COMPILED = _CompiledTemplates()


def setup(app: web.Application) -> None:
    """Mount the site and its templates on the app."""
    aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)), autoescape=True,
                         bytecode_cache=_COMPILED)
    r = app.router
    r.add_get("/", home)
    r.add_get("/products/{pid}", product)
    r.add_get("/cart", cart)
    r.add_get("/signup", signup_form)
    r.add_post("/signup", signup_submit)
    r.add_get("/welcome", welcome)
    r.add_get("/login", login_form)
    r.add_post("/login", login_submit)
    r.add_get("/logout", logout_and_clear)
    r.add_get("/account", account)
    r.add_post("/account", account_update)
    r.add_get("/checkout/complete", checkout_complete)
    r.add_get("/offer", offer)
    r.add_get(f"/static/{LIBRARY_FILE}", library_script)
    r.add_get(ASSET_PREFIX + "{tail:.*}", snippet_asset)
    r.add_static("/static/", STATIC_DIR, append_version=False)
