"""`harness beacons --bad`: a library's re-send of a stored message is shown as a re-send, not a rejection."""

from __future__ import annotations

from rich.console import Console

from harness.tools.views import bad_table


def render(entries: list[dict]) -> str:
    console = Console(width=200, record=True)
    console.print(bad_table(entries))
    return console.export_text()


def test_a_re_send_is_named_with_what_changed_and_rejections_keep_their_reason() -> None:
    resend = {"id": 2, "kind": "conflict", "status": 200, "path": "/v1/t", "messageId": "ajs-next-1",
              "reason": "messageId already stored with other content", "raw": "{}",
              "diff": [{"field": "sentAt", "stored": "a", "resent": "b"}]}
    rejected = {"id": 1, "status": 400, "path": "/v1/t", "reason": "track needs an event", "raw": "{}"}
    text = render([rejected, resend])
    assert "Rejected submissions and re-sends (2; 1 re-send(s), stored copy kept)" in text
    assert "re-send of stored ajs-next-1 (changed: sentAt)" in text
    assert "track needs an event" in text
    assert "Rejected submissions (1)" in render([rejected])
