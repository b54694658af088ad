"""A subscriber's own voicemail greeting (応答メッセージ): the one writer of
`voicemail_greetings`. One per 050 number, audio in the row like a message's, never counted
as a message; removing it goes back to the standard greeting. The audio is checked by
`callflow.greeting` before it comes here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from psycopg.rows import class_row

from callflow.store.database import Database

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class GreetingInfo:
    duration_ms: int
    source: str  # 'ivr' | 'portal'
    updated_at: datetime

    @property
    def version_ms(self) -> int:
        """Changes with every new greeting (names its file in the media cache)."""
        return (self.updated_at - _EPOCH) // timedelta(milliseconds=1)


async def greeting_info(db: Database, number: str) -> GreetingInfo | None:
    """The greeting's facts without its audio; None: the standard greeting."""
    async with db.connection() as conn:
        cur = conn.cursor(row_factory=class_row(GreetingInfo))
        await cur.execute("SELECT duration_ms, source, updated_at FROM voicemail_greetings"
                          " WHERE number = %s", (number,))
        return await cur.fetchone()


async def greeting_audio(db: Database, number: str) -> bytes | None:
    async with db.connection() as conn:
        cur = await conn.execute("SELECT audio FROM voicemail_greetings WHERE number = %s",
                                 (number,))
        row = await cur.fetchone()
    return bytes(row[0]) if row and isinstance(row[0], bytes | memoryview) else None


async def save_greeting(db: Database, number: str, *, audio: bytes, duration_ms: int,
                        source: str, now: datetime) -> None:
    """Make `audio` (a checked 8 kHz WAV) the number's greeting, replacing any other."""
    async with db.connection() as conn:
        await conn.execute(
            "INSERT INTO voicemail_greetings (number, audio, duration_ms, source, updated_at)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (number) DO UPDATE SET"
            " audio = EXCLUDED.audio, duration_ms = EXCLUDED.duration_ms,"
            " source = EXCLUDED.source, updated_at = EXCLUDED.updated_at",
            (number, audio, duration_ms, source, now))


async def remove_greeting(db: Database, number: str) -> bool:
    """Back to the standard greeting; False if there was no own greeting."""
    async with db.connection() as conn:
        cur = await conn.execute("DELETE FROM voicemail_greetings WHERE number = %s",
                                 (number,))
        return cur.rowcount > 0
