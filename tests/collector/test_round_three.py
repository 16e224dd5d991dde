"""Issue 29 (hostile pages, round three): cross-site reads, damaged stores, counters and keys.

Plain HTTP against a real loopback server; no browser. Each test failed on the code before its fix.
"""

from __future__ import annotations

from typing import Any

import pytest


def track(**extra: Any) -> dict[str, Any]:
    import uuid

    return {"type": "track", "event": "E", "anonymousId": "a-1", "messageId": f"m-{uuid.uuid4().hex}", **extra}


# ---- item 4: cross-site navigations never reach /api/ ----------------------------------------------------
@pytest.mark.parametrize(("path", "headers"), [
    ("/api/beacons?userId=u", {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate",
                               "Sec-Fetch-Dest": "iframe"}),
    ("/api/profiles", {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "iframe"}),
    ("/api/profiles", {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}),
    ("/api/beacons", {"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "frame"}),
    ("/inspector", {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "iframe"}),
    ("/inspector", {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "embed"}),
])
def test_item4_cross_site_navigations_to_the_api_are_refused(client: Any, path: str,
                                                             headers: dict[str, str]) -> None:
    """Iframe navigations passed the guard (navigate was exempt whatever the destination) and looped heavy reads."""
    assert client.post("/v1/identify", {**track(userId="u", traits={"email": "a@b.c"}), "type": "identify"}
                       ).status == 200
    reply = client.get(path, headers=headers)
    assert reply.status == 403 and reply.body["error"] == "forbidden", reply.raw[:200]
    assert b"a@b.c" not in reply.raw


def test_item4_own_pages_links_and_plain_clients_still_read(client: Any) -> None:
    link = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}
    assert client.get("/inspector", headers=link).status == 200, "a link from elsewhere still opens the inspector"
    own = {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty"}
    assert client.get("/api/stats", headers=own).status == 200
    typed = {"Sec-Fetch-Site": "none", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}
    assert client.get("/api/stats", headers=typed).status == 200, "a URL typed in the address bar"
    assert client.get("/api/stats").status == 200
