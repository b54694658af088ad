"""SMS delivery of 2FA codes behind a small interface: an HTTP gateway, or the lab inbox."""

from __future__ import annotations

from typing import Protocol

import aiohttp

from callflow.store import Database


class SmsError(Exception):
    """The message could not be handed to the provider."""


class SmsProvider(Protocol):
    async def send(self, to_number: str, body: str) -> None: ...


class LabSmsInbox:
    """Keeps messages in the sms_outbox table; the lab's /lab/sms page shows them."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def send(self, to_number: str, body: str) -> None:
        async with self.db.connection() as conn:
            await conn.execute("INSERT INTO sms_outbox (to_number, body, provider, status)"
                               " VALUES (%s, %s, 'lab', 'sent')", (to_number, body))


class HttpSmsGateway:
    """POSTs `{"to": "+8190…", "text": "…"}` as JSON to a gateway URL (bearer token optional).
    Any 2xx is success; everything else, and a timeout, is SmsError."""

    def __init__(self, url: str, *, token: str = "", timeout: float = 5.0) -> None:
        if not url:
            raise ValueError("ANSHIN_PORTAL_SMS_GATEWAY_URL is not set")
        self.url = url
        self.token = token
        self.timeout = aiohttp.ClientTimeout(total=timeout)

    async def send(self, to_number: str, body: str) -> None:
        e164 = "+81" + to_number[1:] if to_number.startswith("0") else to_number
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            async with aiohttp.ClientSession(timeout=self.timeout) as session, \
                    session.post(self.url, json={"to": e164, "text": body},
                                 headers=headers) as resp:
                if resp.status // 100 != 2:
                    raise SmsError(f"gateway answered {resp.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SmsError(f"gateway unreachable: {type(exc).__name__}") from exc


def code_message(code: str) -> str:
    return f"【050あんしんナンバー】認証番号は {code} です。有効期限は10分です。"
