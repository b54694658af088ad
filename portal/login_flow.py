"""Login flows shared by the pages and the API: password step, sending, resending and
checking two-factor codes, with the lockouts of R-ACC-4."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum

from fastapi import Request

from callflow.features.callback import service as callback_service
from portal import auth, data
from portal.metrics import metrics_of
from portal.request_context import (
    TRUST_COOKIE,
    CsrfRejected,
    LoginRequired,
    NotFound,
    Portal,
    portal_of,
    session_of,
    set_session_cookie,
)
from portal.sms import SmsError, code_message
from portal.validation import sms_capable

log = logging.getLogger("portal.login")

MSG_BAD_LOGIN = "メールアドレスまたはパスワードが正しくありません。"
MSG_LOCKED = ("ログインに続けて失敗したため、一時的にロックしています。"
              "15分ほど経ってから再度お試しください。")
MSG_BAD_CODE = "認証番号が正しくありません。"
MSG_EXPIRED = "認証番号の有効期限が切れました。「再通知する」で新しい認証番号を受け取ってください。"
MSG_TOO_MANY_SENDS = "認証番号の通知回数の上限に達しました。しばらくしてから再度お試しください。"
MSG_SEND_FAILED = "認証番号を送信できませんでした。しばらくしてから再度お試しください。"
MSG_NO_SMS = "SMSは070、080、090から始まる電話番号の場合に選択できます。"


class Outcome(Enum):
    OK = "ok"
    TRUSTED = "trusted"
    BAD = "bad"
    LOCKED = "locked"


async def password_step(request: Request, email: str, password: str) -> Outcome:
    """ID + password. On success the session is replaced (new id) at stage 'password', or
    'full' straight away when this browser is trusted for the account."""
    p = portal_of(request)
    key = "login:" + email.strip().lower()
    limit = p.settings.portal_login_max_failures
    account = await data.account_by_email(p.db, email.strip()) if email.strip() else None
    attempt = await auth.begin_attempt(p.db, key, limit=limit,
                                       minutes=p.settings.portal_lock_minutes)
    if not attempt.allowed:
        metrics_of(request).logins.labels(outcome="locked").inc()
        return Outcome.LOCKED
    try:
        # argon2 runs in the hashing threads, bounded: refused when too many are queued
        ok = await p.passwords.verify(account.password_hash if account else None, password)
    except auth.HashingBusy:
        await auth.release_attempt(p.db, key, limit=limit)  # not checked, so not counted
        raise
    if account is None or not ok:
        log.info("login failed (locked=%s)", attempt.locks)
        metrics_of(request).logins.labels(outcome="bad").inc()
        if attempt.locks:
            metrics_of(request).lockouts.labels(kind="login").inc()
        return Outcome.LOCKED if attempt.locks else Outcome.BAD
    await auth.clear_failures(p.db, key)
    old = session_of(request)
    if old is not None:
        await auth.end_session(p.db, old)
    trusted = await auth.browser_trusted(p.db, request.cookies.get(TRUST_COOKIE), account.id)
    token, session = await auth.new_session(
        p.db, account_id=account.id, stage="full" if trusted else "password",
        hours=p.settings.portal_session_hours)
    set_session_cookie(request, token)
    request.state.session = session
    log.info("login account=%s trusted=%s", account.id, trusted)
    metrics_of(request).logins.labels(outcome="trusted" if trusted else "ok").inc()
    return Outcome.TRUSTED if trusted else Outcome.OK


def pending_session(request: Request) -> auth.Session:
    s = session_of(request)
    if s is None or s.account_id is None or s.stage not in ("password", "full"):
        raise LoginRequired()
    return s


def full_session(request: Request) -> auth.Session:
    s = session_of(request)
    if s is None or s.account_id is None or s.stage != "full":
        raise LoginRequired()
    return s


def account_id(session: auth.Session) -> int:
    assert session.account_id is not None
    return session.account_id


async def owned_number(request: Request, raw: str) -> str:
    """The number-scoped routes' authorization: the session's account must own it."""
    s = full_session(request)
    number = raw.replace("-", "")
    if len(number) != 11 or not number.isdigit() or not number.startswith("050"):
        raise NotFound()
    if not await data.owns_number(portal_of(request).db, account_id(s), number):
        raise NotFound()
    return number


def check_csrf(request: Request, presented: str | None) -> auth.Session:
    s = session_of(request)
    if s is None or not auth.csrf_ok(s, presented):
        raise CsrfRejected()
    return s


async def _deliver(p: Portal, contact: str, method: str, acct: int, code: str) -> None:
    if method == "sms":
        await p.sms.send(contact, code_message(code))
    else:
        await callback_service.request_twofa_voice(p.db, acct, contact, code)


@dataclass(frozen=True)
class SendResult:
    ok: bool
    error: str = ""
    field: str = ""


async def send_code(request: Request, contact_id: int | None, method: str) -> SendResult:
    p = portal_of(request)
    s = pending_session(request)
    acct = account_id(s)
    contacts = await data.contacts(p.db, acct)
    if contact_id is None and len(contacts) == 1:
        contact_id = contacts[0].id
    chosen = [c for c in contacts if c.id == contact_id]
    if not chosen:
        return SendResult(False, "連絡先電話番号を選択してください。", "contact")
    contact = chosen[0].number
    if method not in ("sms", "voice"):
        return SendResult(False, "認証方式を選択してください。", "method")
    if method == "sms" and not sms_capable(contact):
        return SendResult(False, MSG_NO_SMS, "method")
    if await auth.locked(p.db, f"twofa:{acct}"):
        return SendResult(False, MSG_LOCKED, "code")
    if await auth.recent_sends(p.db, contact, p.settings.portal_lock_minutes) \
            >= p.settings.portal_max_sends_per_window:
        return SendResult(False, MSG_TOO_MANY_SENDS, "method")
    challenge, code = await auth.create_challenge(p.db, p.settings.portal_secret, acct, contact,
                                                  method, p.settings.portal_code_minutes)
    try:
        await _deliver(p, contact, method, acct, code)
    except SmsError as exc:
        log.warning("2FA SMS failed: %s", exc)
        metrics_of(request).twofa_send_failed.labels(method=method).inc()
        await auth.cancel_challenge(p.db, challenge.id)
        return SendResult(False, MSG_SEND_FAILED, "method")
    await auth.update_session(p.db, s, challenge_id=challenge.id)
    log.info("2FA code sent account=%s method=%s", acct, method)
    metrics_of(request).twofa_sent.labels(method=method).inc()
    return SendResult(True)


async def resend_code(request: Request) -> SendResult:
    p = portal_of(request)
    s = pending_session(request)
    challenge = await auth.get_challenge(p.db, s.challenge_id, s.account_id)
    if challenge is None:
        return SendResult(False, "もう一度最初から操作してください。", "code")
    if await auth.locked(p.db, f"twofa:{account_id(s)}"):
        return SendResult(False, MSG_LOCKED, "code")
    if await auth.recent_sends(p.db, challenge.contact_number, p.settings.portal_lock_minutes) \
            >= p.settings.portal_max_sends_per_window:
        return SendResult(False, MSG_TOO_MANY_SENDS, "code")
    code = await auth.renew_code(p.db, p.settings.portal_secret, challenge,
                                 p.settings.portal_code_minutes)
    try:
        await _deliver(p, challenge.contact_number, challenge.method, account_id(s), code)
    except SmsError as exc:
        log.warning("2FA SMS resend failed: %s", exc)
        metrics_of(request).twofa_send_failed.labels(method=challenge.method).inc()
        return SendResult(False, MSG_SEND_FAILED, "code")
    log.info("2FA code sent again account=%s method=%s", account_id(s), challenge.method)
    metrics_of(request).twofa_sent.labels(method=challenge.method).inc()
    return SendResult(True)


async def verify_code(request: Request, code: str) -> SendResult:
    """On success the session becomes 'full' under a new id (and the browser may be trusted)."""
    p = portal_of(request)
    s = pending_session(request)
    acct = account_id(s)
    key = f"twofa:{acct}"
    checks = metrics_of(request).twofa_checks
    if await auth.locked(p.db, key):
        checks.labels(outcome="locked").inc()
        return SendResult(False, MSG_LOCKED, "code")
    challenge = await auth.get_challenge(p.db, s.challenge_id, acct)
    if challenge is None:
        return SendResult(False, "もう一度最初から操作してください。", "code")
    if not challenge.live or challenge.attempts >= p.settings.portal_code_max_failures:
        checks.labels(outcome="expired").inc()
        return SendResult(False, MSG_EXPIRED, "code")
    # Counted per account across resends (a new code does not restart the count), and before
    # the check, so concurrent wrong codes cannot outrun the lock.
    attempt = await auth.begin_attempt(p.db, key, limit=p.settings.portal_code_max_failures,
                                       minutes=p.settings.portal_lock_minutes)
    if not attempt.allowed:
        checks.labels(outcome="locked").inc()
        return SendResult(False, MSG_LOCKED, "code")
    if not await auth.check_code(p.db, p.settings.portal_secret, challenge, code,
                                 p.settings.portal_code_max_failures):
        log.info("2FA code wrong account=%s (locked=%s)", acct, attempt.locks)
        checks.labels(outcome="wrong").inc()
        if attempt.locks:
            metrics_of(request).lockouts.labels(kind="twofa").inc()
        return SendResult(False, MSG_LOCKED if attempt.locks else MSG_BAD_CODE, "code")
    await auth.clear_failures(p.db, key)
    await auth.end_session(p.db, s)
    token, session = await auth.new_session(p.db, account_id=acct, stage="full",
                                            hours=p.settings.portal_session_hours)
    set_session_cookie(request, token)
    request.state.session = session
    log.info("2FA passed account=%s", acct)
    checks.labels(outcome="ok").inc()
    return SendResult(True)


async def cancel(request: Request) -> None:
    p = portal_of(request)
    s = session_of(request)
    if s is None:
        return
    if s.challenge_id is not None:
        await auth.cancel_challenge(p.db, s.challenge_id)
    await auth.end_session(p.db, s)
    request.state.clear_session = True
