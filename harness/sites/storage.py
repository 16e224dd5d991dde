"""How a tracking library writes identity into cookies and localStorage, and how to read it back.

Libraries differ: analytics-next keeps strings raw in cookies (js-cookie percent-encodes a few
characters) and JSON-stringifies everything in localStorage; classic analytics.js wrote
percent-encoded JSON into cookies; RudderStack v3 prefixes base64-encoded JSON with ``RS_ENC_v3_``
(built in as ``rs-enc-v3``).
A profile names the encoding per storage place (and per key where they differ), and the suite
decodes through :func:`decode` so it compares values, never a library's byte format.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, unquote

Decoder = Callable[[str], Any]
PLACES = ("cookie", "local")


def _json(raw: str) -> Any:
    """JSON text; a value that is not JSON is returned as the text (a test then shows what was there)."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _percent(raw: str) -> Any:
    """Percent-encoded text (what js-cookie writes for a string)."""
    return unquote(raw)


def _percent_json(raw: str) -> Any:
    """Percent-encoded JSON (classic analytics.js cookies, e.g. ``%22abc%22``)."""
    return _json(unquote(raw))


def _auto(raw: str) -> Any:
    """Guess: JSON, else percent-encoded JSON, else the percent-decoded text."""
    try:
        return json.loads(raw)
    except ValueError:
        text = unquote(raw)
        try:
            return json.loads(text)
        except ValueError:
            return text


RS_ENC_V3 = "RS_ENC_v3_"  # RudderStack v3's StorageEncryption plugin prefix


def _rs_enc_v3(raw: str) -> Any:
    """RudderStack v3 (``@rudderstack/analytics-js``): ``"RS_ENC_v3_" + base64(utf8(JSON))``.

    Cookies hold it percent-encoded (``RS_ENC_v3_InUxIg%3D%3D`` is ``"u1"``); localStorage holds it
    JSON-quoted once more by storejs (``"RS_ENC_v3_InUxIg=="``, quotes included). Without the prefix
    (the SDK ran without its StorageEncryption plugin) a value is percent-encoded JSON; what is neither
    is returned as the text. Never raises: a test then shows what was stored.
    """
    text = unquote(raw)
    if text.startswith('"'):
        try:
            inner = json.loads(text)
        except ValueError:
            inner = None
        if isinstance(inner, str):
            text = inner
    if text.startswith(RS_ENC_V3):
        payload = text[len(RS_ENC_V3):]
        try:
            decoded = base64.b64decode(payload + "=" * (-len(payload) % 4), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return text
        return _json(decoded)
    return _json(text)


def encode_rs_enc_v3(value: Any, cookie: bool = True) -> str:
    """A value as RudderStack v3 stores it: percent-encoded for a cookie, storejs-quoted for localStorage."""
    encoded = RS_ENC_V3 + base64.b64encode(
        json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")).decode("ascii")
    return quote(encoded, safe="") if cookie else json.dumps(encoded)


ENCODINGS: dict[str, Decoder] = {
    "plain": lambda raw: raw,
    "json": _json,
    "percent": _percent,
    "percent-json": _percent_json,
    "auto": _auto,
    "rs-enc-v3": _rs_enc_v3,
}


def register_encoding(name: str, decoder: Decoder) -> None:
    """Add an encoding a profile may name (e.g. a prefixed/base64 scheme of a new library)."""
    ENCODINGS[name] = decoder


def decode(raw: str | None, encoding: str = "auto") -> Any:
    """One stored value, decoded as declared; None stays None."""
    if raw is None:
        return None
    try:
        decoder = ENCODINGS[encoding]
    except KeyError:
        raise ValueError(f"unknown storage encoding {encoding!r}; known: {', '.join(sorted(ENCODINGS))}") from None
    return decoder(raw)
