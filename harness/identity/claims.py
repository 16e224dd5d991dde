"""The claims table (SPEC C1-C26): what the seed documents say a tracking library does with identity.

One source for the test suite's claims markers, ``docs/claims.md`` and the conformance matrix.
"""

from __future__ import annotations

CLAIMS: dict[str, str] = {
    'C1': 'First visit: a random 36-character UUID anonymousId is generated before any call, in cookie and localStorage (both)',
    'C2': 'The id cookie expires in one year (both)',
    'C3': 'Same device, later visits and days later: the same anonymousId on every call (000 scenario #1)',
    'C4': 'Cookie expired, localStorage kept: the id is read back from localStorage and the cookie is set again (both)',
    'C5': 'Cookies and localStorage cleared: a completely new anonymousId (both)',
    'C6': 'identify(userId, traits): userId saved (cookie + localStorage), traits in localStorage; later page/track calls carry userId and anonymousId (both)',
    'C7': 'identify then track "Signed Up": both carry the same anonymousId, so anonymous and identified activity merge (000)',
    'C8': 'Scenario #1 multi-day single device → one profile; #2 web sign-up + anonymous mobile → two profiles; #3 logged in on both → one profile (000)',
    'C9': 'reset(): userId, anonymousId and traits removed; a new anonymousId on the next call or visit (both)',
    'C10': 'user().anonymousId() never returns null: it generates and saves one (both)',
    'C11': 'setAnonymousId / user().anonymousId(id) works before ready and persists (004)',
    'C12': 'options.anonymousId on identify/page/track overrides and persists for later calls (004)',
    'C13': 'A call made before an explicit setAnonymousId gives the user two anonymousIds — reproduced and flagged by lint (000)',
    'C14': 'identify() with a different userId than the cached one: a new anonymousId; attribution problem flagged by lint (both)',
    'C15': "A server-generated anonymousId passed to the browser overwrites the browser's existing one — reproduced and flagged (000)",
    'C16': 'Server library events need a manual anonymousId (e.g. a session id) (000)',
    'C17': 'Traits cached by identify and group; traits({}) clears them for user or group (004)',
    'C18': 'context.traits goes on that one call only; it does not persist (004)',
    'C19': 'context.ip given → recorded as given; not given → the collector records the request IP (004)',
    'C20': 'Every call carries a messageId, `timestamp` and `sentAt` from the browser, `receivedAt` (and `originalTimestamp` where missing) added by the collector — the "message_id and four timestamps" (000). Context fields (library, page, userAgent, locale, timezone) are reported per library, not required: the seed does not name them',
    'C21': 'ready(cb) runs after load; user() / group() return id(), anonymousId(), traits() (004)',
    'C22': 'Calls made before the library loads are queued by the loader stub and sent once it loads (004)',
    'C23': 'Missing sign-ups: a redirect right after the calls loses them; the welcome-page fix and unload-safe delivery lose none (000)',
    'C24': 'userId best practice: an email address or username used as userId is flagged by lint (000)',
    'C25': 'Identify calls reduce Monthly Tracked Users: MTU counted from the beacons (000)',
    'C26': 'Multiple devices → multiple anonymousIds for one person (000)',
}
