"""A minimal server-side tracking library (analytics-python shape) used by the sample site.

Server libraries do not generate an anonymousId (seed 000): the caller must pass one, e.g.
the browser's anonymousId cookie or a backend session id. Messages go to the collector over
real HTTP like any other source, so they are stored with ``_meta.transport == "server"``.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

import aiohttp

from harness.collecting.beacon import now_iso

LIBRARY = {"name": "intilery-python", "version": "0.1.0"}


class ServerAnalytics:
    """``identify``/``track`` that post a batch to ``{host}/v1/batch`` and return when it is stored."""

    def __init__(self, host: str, write_key: str = "") -> None:
        self.host = host.rstrip("/")
        self.write_key = write_key

    def _message(self, type_: str, user_id: str | None, anonymous_id: str | None, **fields: Any) -> dict[str, Any]:
        if not user_id and not anonymous_id:
            raise ValueError("server libraries need a userId or a manual anonymousId (e.g. a session id)")
        now = now_iso()
        message: dict[str, Any] = {
            "type": type_, "messageId": f"py-{uuid.uuid4()}", "timestamp": now,
            "context": {"library": dict(LIBRARY)}, "_metadata": {"transport": "server"},
        }
        if user_id:
            message["userId"] = user_id
        if anonymous_id:
            message["anonymousId"] = anonymous_id
        message.update({k: v for k, v in fields.items() if v is not None})
        return message

    async def send(self, *messages: dict[str, Any]) -> int:
        """Deliver messages in one batch; returns the HTTP status."""
        auth = base64.b64encode(f"{self.write_key}:".encode()).decode()
        body = {"batch": list(messages), "sentAt": now_iso(), "writeKey": self.write_key}
        headers = {"Authorization": f"Basic {auth}", "User-Agent": "intilery-python/0.1.0"}
        async with aiohttp.ClientSession() as session, session.post(
            f"{self.host}/v1/batch", json=body, headers=headers, timeout=aiohttp.ClientTimeout(total=10)
        ) as resp:
            return resp.status

    async def identify(self, user_id: str | None, traits: dict[str, Any] | None = None,
                       anonymous_id: str | None = None) -> int:
        return await self.send(self._message("identify", user_id, anonymous_id, traits=traits or {}))

    async def track(self, event: str, properties: dict[str, Any] | None = None, user_id: str | None = None,
                    anonymous_id: str | None = None) -> int:
        return await self.send(self._message("track", user_id, anonymous_id, event=event,
                                             properties=properties or {}))
