"""Data lifecycle: rows kept only as long as the service needs them (docs/operations.md).

The one deleter of old rows in tables whose writers live elsewhere (history, the outboxes,
portal sessions, billing): each table keeps its one writer for what it holds, and this module
only removes what has outlived its period. Periods come from Settings (ANSHIN_RETENTION_*);
`now` from the app's clock, never the database's now().

* call history (`call_history`) and the operator's call log (`call_log`): `history` old;
* mail outbox rows delivered or given up, SMS outbox rows, and finished 2FA-voice /
  own-number-verification requests (they carry codes): `outbox` old; unsent mail is never
  touched, whatever its age (a relay outage delays mail, never loses it);
* portal sessions, trusted browsers and 2FA challenges expired more than `sessions` ago, 2FA
  send records and lockout counters older than that;
* あんしん発信 requests with their billing legs (`callback_legs`, cascading): `billing` after
  the request finished (or was made, if it never finished).

Voicemail messages have their own 168 h rule (store.mailbox.delete_expired).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from callflow.store.database import Database


@dataclass(frozen=True)
class RetentionPeriods:
    history: timedelta = timedelta(days=90)
    outbox: timedelta = timedelta(days=30)
    sessions: timedelta = timedelta(days=7)
    billing: timedelta = timedelta(days=7 * 365 + 2)  # 7 years (帳簿書類の保存期間)


#: (what, statement); each statement takes %(history)s, %(outbox)s, %(sessions)s, %(billing)s:
#: the cut-off time of its period
_PURGES: tuple[tuple[str, str], ...] = (
    ("call_history", "DELETE FROM call_history WHERE received_at < %(history)s"),
    ("call_log", "DELETE FROM call_log WHERE started_at < %(history)s"),
    ("mail_outbox",
     "DELETE FROM mail_outbox WHERE (sent_at IS NOT NULL AND sent_at < %(outbox)s)"
     " OR (failed_at IS NOT NULL AND failed_at < %(outbox)s)"),
    ("sms_outbox", "DELETE FROM sms_outbox WHERE created_at < %(outbox)s"),
    ("call_requests",
     "DELETE FROM call_requests WHERE kind <> 'callback'"
     " AND status IN ('completed', 'failed', 'expired')"
     " AND coalesce(finished_at, created_at) < %(outbox)s"),
    ("portal_sessions", "DELETE FROM portal_sessions WHERE expires_at < %(sessions)s"),
    ("trusted_browsers", "DELETE FROM trusted_browsers WHERE expires_at < %(sessions)s"),
    ("twofa_challenges", "DELETE FROM twofa_challenges WHERE expires_at < %(sessions)s"),
    ("twofa_sends", "DELETE FROM twofa_sends WHERE sent_at < %(sessions)s"),
    ("portal_lockouts",
     "DELETE FROM portal_lockouts WHERE window_start < %(sessions)s"
     " AND (locked_until IS NULL OR locked_until < %(sessions)s)"),
    ("callback billing",
     "DELETE FROM call_requests WHERE kind = 'callback'"
     " AND status IN ('completed', 'failed', 'expired')"
     " AND coalesce(finished_at, created_at) < %(billing)s"),
)


async def purge_expired(db: Database, now: datetime,
                        periods: RetentionPeriods) -> dict[str, int]:
    """Delete every row past its period; returns rows deleted per table (only those > 0).
    One short transaction per table, so a large first run does not hold locks for long."""
    cutoffs = {"history": now - periods.history, "outbox": now - periods.outbox,
               "sessions": now - periods.sessions, "billing": now - periods.billing}
    deleted: dict[str, int] = {}
    for what, statement in _PURGES:
        async with db.transaction() as conn:
            cur = await conn.execute(statement, cutoffs)
            if cur.rowcount > 0:
                deleted[what] = cur.rowcount
    return deleted
