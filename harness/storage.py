"""How a tracking library writes identity into cookies and localStorage, and how to read it back.

Libraries differ: analytics-next keeps strings raw in cookies (js-cookie percent-encodes a few
characters) and JSON-stringifies everything in localStorage; classic analytics.js wrote
percent-encoded JSON into cookies; RudderStack v3 prefixes encoded values with ``RS_ENC_v3_``.
A profile names the encoding per storage place (and per key where they differ), and the suite
decodes through :func:`decode` so it compares values, never a library's byte format.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

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


ENCODINGS: dict[str, Decoder] = {
    "plain": lambda raw: raw,
    "json": _json,
    "percent": _percent,
    "percent-json": _percent_json,
    "auto": _auto,
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
