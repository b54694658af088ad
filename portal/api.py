"""The JSON API (same session cookie as the pages; unsafe methods need the X-CSRF-Token
header). Validation errors are 422 with Japanese messages per field."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from callflow.features.callback import outcomes
from callflow.features.callback import service as callback_service
from callflow.greeting import MAX_UPLOAD_BYTES, PROBLEM_JA, BadGreeting
from callflow.quiet_hours import QuietHours, format_minute
from callflow.softphone import REALM as SOFTPHONE_REALM
from callflow.store import (
    InvalidValue,
    LimitExceeded,
    blocklist,
    call_screening,
    forwarding,
    greetings,
    likely_spam,
    mailbox,
    quiet_hours,
    softphones,
    subscribers,
)
from portal import auth, data, forms, greeting_upload, login_flow
from portal.login_flow import Outcome, account_id, full_session, owned_number, pending_session
from portal.request_context import NotFound, ensure_session, portal_of, session_of
from portal.validation import (
    BLOCK_LIMIT,
    Invalid,
    normalize_code,
    sms_capable,
    validate_call_destination,
)

router = APIRouter(prefix="/api/v1", tags=["portal"])

Csrf = Annotated[str | None, Header(alias="X-CSRF-Token")]


class FieldError(BaseModel):
    field: str
    message: str


class ErrorOut(BaseModel):
    detail: str | list[FieldError]


def invalid(errors: dict[str, str], status: int = 422) -> JSONResponse:
    body = ErrorOut(detail=[FieldError(field=k, message=v) for k, v in errors.items()])
    return JSONResponse(body.model_dump(), status_code=status)


class SessionOut(BaseModel):
    stage: Literal["anonymous", "password", "full"]
    csrf_token: str


class LoginIn(BaseModel):
    email: str = Field(max_length=254)
    password: str = Field(max_length=200)


class ContactOut(BaseModel):
    id: int
    number: str = Field(description="masked: only the last 3 digits")
    label: str
    sms: bool


class SendCodeIn(BaseModel):
    contact_id: int | None = None
    method: Literal["sms", "voice"]


class VerifyIn(BaseModel):
    code: str = Field(max_length=20)
    trust_browser: bool = False


class SettingsOut(BaseModel):
    number: str
    reject_anonymous: bool
    forward_enabled: bool
    forward_destinations: list[str]
    forward_active: str | None
    forward_ring_seconds: int
    forward_show_caller: Literal["caller", "050"]
    forward_mode: Literal["single", "simultaneous", "sequential"] = "single"
    forward_ring_each: list[int | None] = Field(
        default_factory=list, description="each destination's ring time (sequential mode)")
    voicemail_enabled: bool
    voicemail_pin_set: bool
    notify_email: str | None
    notify_only_recorded: bool
    attach_recording: bool
    block_list: list[str]
    reject_likely_spam: bool = Field(
        default=False,
        description="calls labelled 迷惑電話の可能性 go to the rejection announcement")
    call_screening: bool = Field(
        default=False,
        description="名乗り確認: callers not accepted before say their name; the subscriber "
                    "hears it on answering and presses 1 (connect) or 2 (voicemail)")
    call_screening_exceptions: list[str] = Field(
        default_factory=list, description="名乗り確認: numbers that ring without the question")


class AnonymousIn(BaseModel):
    reject_anonymous: bool


class LikelySpamIn(BaseModel):
    reject: bool


class CallScreeningIn(BaseModel):
    enabled: bool
    exceptions: list[str] | None = Field(
        default=None, description="numbers that always ring without the question (at most "
        "10; replaces the list; omitted: kept)")


class ForwardingIn(BaseModel):
    enabled: bool
    destinations: list[str] = Field(max_length=10)
    active: str | None = None
    ring_seconds: int = 20
    show_caller: Literal["caller", "050"] = "caller"
    mode: Literal["single", "simultaneous", "sequential"] = Field(
        default="single", description="ring the active one, all at once, or in order")
    ring_each: list[int | None] = Field(
        default_factory=list, max_length=10,
        description="sequential mode: each destination's ring time (null: ring_seconds)")


class VoicemailIn(BaseModel):
    enabled: bool
    email: str | None = Field(default=None, max_length=254)
    notify_only_recorded: bool = False
    attach_recording: bool = False
    pin: str | None = Field(default=None, max_length=20)


class BlockIn(BaseModel):
    number: str = Field(max_length=40)


class QuietWindowIO(BaseModel):
    weekday: int = Field(ge=0, le=6, description="0 = Monday … 6 = Sunday (JST)")
    start: str = Field(max_length=8, description="HH:MM, JST")
    end: str = Field(max_length=8, description="HH:MM, JST; at or before start: the next day")


class QuietHoursIO(BaseModel):
    enabled: bool
    action: Literal["voicemail", "announce"] = "voicemail"
    windows: list[QuietWindowIO] = Field(default_factory=list, max_length=7)
    exceptions: list[str] = Field(default_factory=list, max_length=20)


def _quiet_out(q: QuietHours) -> QuietHoursIO:
    return QuietHoursIO(
        enabled=q.enabled, action=q.action.value,
        windows=[QuietWindowIO(weekday=w.weekday, start=format_minute(w.start),
                               end=format_minute(w.end)) for w in q.windows],
        exceptions=list(q.exceptions))


class HistoryOut(BaseModel):
    caller: str = Field(description="number or 非通知")
    name: str = Field(description="registered name or 登録なし")
    received_at: str = Field(description="YYYY/MM/DD HH:MM:SS (JST)")
    likely_spam: bool = Field(default=False, description="labelled 迷惑電話の可能性: many "
                              "subscribers block this number (who and how many is never told)")


class MessageOut(BaseModel):
    id: int
    caller: str
    received_at: datetime
    duration_ms: int
    heard: bool
    audio_url: str
    transcript: str | None = None  # the message's text, once transcribed


class GreetingOut(BaseModel):
    own: bool = Field(description="false: callers hear the standard greeting")
    duration_ms: int | None = None
    source: Literal["ivr", "portal"] | None = None
    updated_at: datetime | None = None
    audio_url: str | None = None


class CallbackIn(BaseModel):
    destination: str = Field(max_length=40)
    own_number_id: int


class CallOut(BaseModel):
    id: int
    status: str
    destination: str | None
    leg1: str
    reason: str | None = None  # why a finished call failed (stable code)
    reason_ja: str | None = None  # the same, as the portal says it


def _call_out(req: data.CallRequest) -> CallOut:
    failed = req.status in ("failed", "expired")
    return CallOut(id=req.id, status=req.status, destination=req.destination, leg1=req.leg1,
                   reason=req.reason if failed else None,
                   reason_ja=outcomes.explain(req.reason) if failed else None)


class Ok(BaseModel):
    ok: bool = True


def _csrf(request: Request, token: str | None) -> None:
    login_flow.check_csrf(request, token)


@router.get("/session", response_model=SessionOut)
async def get_session(request: Request) -> SessionOut:
    s = ensure_session(request)  # before login: a cookie only, no row
    return SessionOut(stage=s.stage, csrf_token=s.csrf_token)  # type: ignore[arg-type]


@router.post("/login", response_model=SessionOut, responses={401: {"model": ErrorOut},
                                                             429: {"model": ErrorOut}})
async def login(request: Request, body: LoginIn, x_csrf_token: Csrf = None) -> Response:
    _csrf(request, x_csrf_token)
    outcome = await login_flow.password_step(request, body.email, body.password)
    if outcome is Outcome.BAD:
        return JSONResponse({"detail": login_flow.MSG_BAD_LOGIN}, status_code=401)
    if outcome is Outcome.LOCKED:
        return JSONResponse({"detail": login_flow.MSG_LOCKED}, status_code=429)
    s = session_of(request)
    assert s is not None
    out = SessionOut(stage=s.stage, csrf_token=s.csrf_token)  # type: ignore[arg-type]
    return JSONResponse(out.model_dump())


@router.get("/twofa/contacts", response_model=list[ContactOut])
async def twofa_contacts(request: Request) -> list[ContactOut]:
    s = pending_session(request)
    from portal.validation import mask_number
    return [ContactOut(id=c.id, number=mask_number(c.number), label=c.label,
                       sms=sms_capable(c.number))
            for c in await data.contacts(portal_of(request).db, account_id(s))]


@router.post("/twofa/send", response_model=Ok, responses={422: {"model": ErrorOut}})
async def twofa_send(request: Request, body: SendCodeIn, x_csrf_token: Csrf = None) -> Response:
    _csrf(request, x_csrf_token)
    result = await login_flow.send_code(request, body.contact_id, body.method)
    if not result.ok:
        return invalid({result.field: result.error})
    return JSONResponse(Ok().model_dump())


@router.post("/twofa/resend", response_model=Ok, responses={422: {"model": ErrorOut}})
async def twofa_resend(request: Request, x_csrf_token: Csrf = None) -> Response:
    _csrf(request, x_csrf_token)
    result = await login_flow.resend_code(request)
    if not result.ok:
        return invalid({result.field: result.error})
    return JSONResponse(Ok().model_dump())


@router.post("/twofa/verify", response_model=SessionOut, responses={422: {"model": ErrorOut}})
async def twofa_verify(request: Request, body: VerifyIn, x_csrf_token: Csrf = None) -> Response:
    _csrf(request, x_csrf_token)
    try:
        code = normalize_code(body.code)
    except Invalid as exc:
        return invalid({"code": exc.message})
    result = await login_flow.verify_code(request, code)
    if not result.ok:
        return invalid({"code": result.error})
    s = full_session(request)
    response = JSONResponse(SessionOut(stage="full", csrf_token=s.csrf_token).model_dump())
    if body.trust_browser:
        p = portal_of(request)
        token = await auth.trust_browser(p.db, account_id(s), p.settings.portal_trust_days)
        response.set_cookie("anshin_trusted", token, httponly=True, samesite="lax",
                            secure=p.settings.portal_cookie_secure,
                            max_age=p.settings.portal_trust_days * 86400)
    return response


@router.post("/logout", response_model=Ok)
async def logout(request: Request, x_csrf_token: Csrf = None) -> Ok:
    s = login_flow.check_csrf(request, x_csrf_token)
    await auth.end_session(portal_of(request).db, s)
    request.state.clear_session = True
    return Ok()


@router.get("/numbers", response_model=list[str])
async def numbers(request: Request) -> list[str]:
    s = full_session(request)
    return await data.account_numbers(portal_of(request).db, account_id(s))


async def _settings(request: Request, number: str) -> SettingsOut:
    db = portal_of(request).db
    st = await data.settings(db, number)
    dests = await forwarding.list_destinations(db, number)
    return SettingsOut(
        number=number, reject_anonymous=st.reject_anonymous, forward_enabled=st.forward_enabled,
        forward_destinations=[d.destination for d in dests],
        forward_active=next((d.destination for d in dests if d.active), None),
        forward_ring_seconds=st.forward_ring_seconds,
        forward_show_caller=st.forward_show_caller,  # type: ignore[arg-type]
        forward_mode=await forwarding.get_forward_mode(db, number),  # type: ignore[arg-type]
        forward_ring_each=[d.ring_seconds for d in dests],
        voicemail_enabled=st.voicemail_enabled, voicemail_pin_set=st.pin_set,
        notify_email=st.notify_email, notify_only_recorded=st.notify_only_recorded,
        attach_recording=st.attach_recording,
        block_list=await blocklist.blocked_numbers(db, number),
        reject_likely_spam=await likely_spam.rejects(db, number),
        call_screening=await call_screening.get_call_screening(db, number),
        call_screening_exceptions=list(await call_screening.get_exceptions(db, number)))


@router.get("/numbers/{number}/settings", response_model=SettingsOut,
            responses={404: {"model": ErrorOut}})
async def get_settings(request: Request, number: str) -> SettingsOut:
    return await _settings(request, await owned_number(request, number))


@router.put("/numbers/{number}/anonymous", response_model=SettingsOut,
            responses={404: {"model": ErrorOut}})
async def put_anonymous(request: Request, number: str, body: AnonymousIn,
                        x_csrf_token: Csrf = None) -> SettingsOut:
    n = await owned_number(request, number)
    _csrf(request, x_csrf_token)
    await subscribers.set_reject_anonymous(portal_of(request).db, n, body.reject_anonymous)
    return await _settings(request, n)


@router.put("/numbers/{number}/likely-spam", response_model=SettingsOut,
            responses={404: {"model": ErrorOut}})
async def put_likely_spam(request: Request, number: str, body: LikelySpamIn,
                          x_csrf_token: Csrf = None) -> SettingsOut:
    """迷惑電話の可能性: refuse such calls with the rejection announcement, or only label them."""
    n = await owned_number(request, number)
    _csrf(request, x_csrf_token)
    await likely_spam.set_reject(portal_of(request).db, n, body.reject)
    return await _settings(request, n)


@router.put("/numbers/{number}/call-screening", response_model=SettingsOut,
            responses={404: {"model": ErrorOut}, 422: {"model": ErrorOut}})
async def put_call_screening(request: Request, number: str, body: CallScreeningIn,
                             x_csrf_token: Csrf = None) -> Response:
    """名乗り確認 on or off, and (when given) the numbers that ring without the question."""
    n = await owned_number(request, number)
    _csrf(request, x_csrf_token)
    exceptions = None
    if body.exceptions is not None:
        parsed, errors = forms.parse_call_screening({
            "screening": "on" if body.enabled else "off",
            "exceptions": "\n".join(body.exceptions)})
        if parsed is None:
            return invalid(errors)
        exceptions = parsed[1]
    try:
        await call_screening.set_call_screening(portal_of(request).db, n, body.enabled,
                                                exceptions)
    except InvalidValue as exc:
        return invalid({"exceptions": str(exc)})
    except LimitExceeded:
        return invalid({"exceptions": forms.screening_exception_limit_message()})
    return JSONResponse((await _settings(request, n)).model_dump())


@router.put("/numbers/{number}/forwarding", response_model=SettingsOut,
            responses={404: {"model": ErrorOut}, 422: {"model": ErrorOut}})
async def put_forwarding(request: Request, number: str, body: ForwardingIn,
                         x_csrf_token: Csrf = None) -> Response:
    n = await owned_number(request, number)
    _csrf(request, x_csrf_token)
    fwd, errors = forms.parse_forwarding(
        number=n, enabled="on" if body.enabled else "off", destinations=body.destinations,
        active=body.active or "", ring_seconds=str(body.ring_seconds),
        show_caller=body.show_caller, mode=body.mode,
        ring_each=["" if r is None else str(r) for r in body.ring_each])
    if fwd is None:
        return invalid(errors)
    try:
        await forwarding.save_forwarding(portal_of(request).db, n, enabled=fwd.enabled,
                                         destinations=fwd.destinations, active=fwd.active,
                                         ring_seconds=fwd.ring_seconds,
                                         show_caller=fwd.show_caller, mode=fwd.mode,
                                         ring_each=fwd.ring_each)
    except InvalidValue as exc:
        return invalid({"destinations": str(exc)})
    except LimitExceeded:
        return invalid({"destinations": forms.forward_limit_message()})
    return JSONResponse((await _settings(request, n)).model_dump())


@router.put("/numbers/{number}/voicemail", response_model=SettingsOut,
            responses={404: {"model": ErrorOut}, 422: {"model": ErrorOut}})
async def put_voicemail(request: Request, number: str, body: VoicemailIn,
                        x_csrf_token: Csrf = None) -> Response:
    n = await owned_number(request, number)
    _csrf(request, x_csrf_token)
    st = await data.settings(portal_of(request).db, n)
    vm, errors = forms.parse_voicemail(
        enabled="on" if body.enabled else "off", email=body.email or "",
        only_recorded=body.notify_only_recorded, attach=body.attach_recording,
        pin=body.pin or "", pin_confirm=None, pin_set=st.pin_set)
    if vm is None:
        return invalid(errors)
    await subscribers.set_voicemail_center(
        portal_of(request).db, n, enabled=vm.enabled, email=vm.email,
        only_recorded=vm.only_recorded, attach=vm.attach,
        pin_hash=await portal_of(request).passwords.hash(vm.pin) if vm.pin else None)
    return JSONResponse((await _settings(request, n)).model_dump())


@router.post("/numbers/{number}/blocklist", response_model=list[str],
             responses={404: {"model": ErrorOut}, 422: {"model": ErrorOut}})
async def add_block(request: Request, number: str, body: BlockIn,
                    x_csrf_token: Csrf = None) -> Response:
    n = await owned_number(request, number)
    _csrf(request, x_csrf_token)
    db = portal_of(request).db
    current = await blocklist.blocked_numbers(db, n)
    entries, errors = forms.add_to_blocklist(current, body.number)
    if errors:
        return invalid({"number": errors["new_number"]})
    try:
        await blocklist.add_blocked(db, n, entries[-1])
    except LimitExceeded:
        return invalid({"number": forms.limit_message()})
    return JSONResponse(await blocklist.blocked_numbers(db, n))


@router.delete("/numbers/{number}/blocklist/{blocked}", response_model=list[str],
               responses={404: {"model": ErrorOut}})
async def delete_block(request: Request, number: str, blocked: str,
                       x_csrf_token: Csrf = None) -> list[str]:
    n = await owned_number(request, number)
    _csrf(request, x_csrf_token)
    db = portal_of(request).db
    if not await blocklist.remove_blocked(db, n, blocked[:40]):
        raise NotFound()
    return await blocklist.blocked_numbers(db, n)


@router.get("/numbers/{number}/history", response_model=list[HistoryOut],
            responses={404: {"model": ErrorOut}})
async def get_history(request: Request, number: str) -> list[HistoryOut]:
    from portal.validation import format_jst
    n = await owned_number(request, number)
    return [HistoryOut(caller=r.caller or "非通知",
                       name=(r.caller_name or "登録なし") if r.caller else "非通知",
                       received_at=format_jst(r.received_at), likely_spam=r.likely_spam)
            for r in await data.history(portal_of(request).db, n)]


@router.get("/numbers/{number}/messages", response_model=list[MessageOut],
            responses={404: {"model": ErrorOut}})
async def get_messages(request: Request, number: str) -> list[MessageOut]:
    n = await owned_number(request, number)
    return [MessageOut(id=m.id, caller=m.caller or "非通知", received_at=m.received_at,
                       duration_ms=m.duration_ms, heard=m.heard,
                       audio_url=f"/n/{n}/messages/{m.id}.wav", transcript=m.transcript)
            for m in await data.messages(portal_of(request).db, n)]


@router.delete("/numbers/{number}/messages/{message_id}", response_model=Ok,
               responses={404: {"model": ErrorOut}})
async def delete_message(request: Request, number: str, message_id: int,
                         x_csrf_token: Csrf = None) -> Ok:
    n = await owned_number(request, number)
    _csrf(request, x_csrf_token)
    if not -2**63 <= message_id < 2**63 or not await mailbox.delete_messages(
            portal_of(request).db, n, [message_id]):
        raise NotFound()
    return Ok()


async def _greeting(request: Request, number: str) -> GreetingOut:
    info = await greetings.greeting_info(portal_of(request).db, number)
    if info is None:
        return GreetingOut(own=False)
    return GreetingOut(own=True, duration_ms=info.duration_ms,
                       source=info.source,  # type: ignore[arg-type]
                       updated_at=info.updated_at, audio_url=f"/n/{number}/greeting.wav")


@router.get("/numbers/{number}/greeting", response_model=GreetingOut,
            responses={404: {"model": ErrorOut}})
async def get_greeting(request: Request, number: str) -> GreetingOut:
    return await _greeting(request, await owned_number(request, number))


@router.put("/numbers/{number}/greeting", response_model=GreetingOut,
            responses={404: {"model": ErrorOut}, 422: {"model": ErrorOut}})
async def put_greeting(request: Request, number: str, x_csrf_token: Csrf = None) -> Response:
    """The request body is the audio file itself (WAV, MP3 or M4A, at most 10 MB and 30 s),
    whatever its Content-Type; it becomes the greeting callers hear before the beep."""
    n = await owned_number(request, number)
    _csrf(request, x_csrf_token)
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_UPLOAD_BYTES:
            break
    if not data:
        return invalid({"file": "音声ファイルを選択してください。"})
    try:
        await greeting_upload.upload(portal_of(request).db, n, bytes(data), datetime.now(UTC))
    except BadGreeting as exc:
        return invalid({"file": PROBLEM_JA[exc.problem]})
    return JSONResponse((await _greeting(request, n)).model_dump(mode="json"))


@router.delete("/numbers/{number}/greeting", response_model=GreetingOut,
               responses={404: {"model": ErrorOut}})
async def delete_greeting(request: Request, number: str,
                          x_csrf_token: Csrf = None) -> GreetingOut:
    """Back to the standard greeting."""
    n = await owned_number(request, number)
    _csrf(request, x_csrf_token)
    await greetings.remove_greeting(portal_of(request).db, n)
    return await _greeting(request, n)


@router.post("/numbers/{number}/callback", response_model=CallOut,
             responses={404: {"model": ErrorOut}, 422: {"model": ErrorOut}})
async def post_callback(request: Request, number: str, body: CallbackIn,
                        x_csrf_token: Csrf = None) -> Response:
    n = await owned_number(request, number)
    _csrf(request, x_csrf_token)
    db = portal_of(request).db
    acct = account_id(full_session(request))
    try:
        dest = validate_call_destination(body.destination)
    except Invalid as exc:
        return invalid({"destination": exc.message})
    if body.own_number_id not in {o.id for o in await data.own_numbers(db, acct)}:
        return invalid({"own_number_id": "発信番号を選択してください。"})
    try:
        request_id = await callback_service.request_callback(
            db, acct, n, dest, own_number_id=body.own_number_id)
    except callback_service.CallbackRefused as exc:
        return invalid({"destination": exc.message_ja})
    req = await data.call_request(db, acct, request_id)
    assert req is not None
    return JSONResponse(_call_out(req).model_dump())


@router.get("/numbers/{number}/callback/{request_id}", response_model=CallOut,
            responses={404: {"model": ErrorOut}})
async def get_callback(request: Request, number: str, request_id: int) -> CallOut:
    await owned_number(request, number)
    if not 0 < request_id < 2**63:
        raise NotFound()
    req = await data.call_request(portal_of(request).db, account_id(full_session(request)),
                                  request_id)
    if req is None or req.kind != "callback":
        raise NotFound()
    return _call_out(req)


__all__ = ["BLOCK_LIMIT", "router"]


@router.get("/numbers/{number}/quiet-hours", response_model=QuietHoursIO,
            responses={404: {"model": ErrorOut}})
async def get_quiet_hours(request: Request, number: str) -> QuietHoursIO:
    n = await owned_number(request, number)
    return _quiet_out(await quiet_hours.get_quiet_hours(portal_of(request).db, n))


@router.put("/numbers/{number}/quiet-hours", response_model=QuietHoursIO,
            responses={404: {"model": ErrorOut}, 422: {"model": ErrorOut}})
async def put_quiet_hours(request: Request, number: str, body: QuietHoursIO,
                          x_csrf_token: Csrf = None) -> Response:
    """おやすみモード: the whole setting (windows and exceptions replaced)."""
    n = await owned_number(request, number)
    _csrf(request, x_csrf_token)
    starts, ends = [""] * 7, [""] * 7
    for w in body.windows:
        if starts[w.weekday]:
            return invalid({f"day{w.weekday}": "1つの曜日に指定できる時間帯は1つです。"})
        starts[w.weekday], ends[w.weekday] = w.start or " ", w.end or " "
    q, errors = forms.parse_quiet_hours(
        enabled="on" if body.enabled else "off", action=body.action, starts=starts,
        ends=ends, exceptions=body.exceptions)
    if q is None:
        return invalid(errors)
    try:
        await quiet_hours.save_quiet_hours(portal_of(request).db, n, q)
    except InvalidValue as exc:
        return invalid({"exceptions": str(exc)})
    except LimitExceeded:
        return invalid({"exceptions": forms.quiet_exception_limit_message()})
    return JSONResponse(_quiet_out(q).model_dump())


class SoftphoneOut(BaseModel):
    """The softphone account of a number (never its password)."""
    active: bool
    username: str | None = None
    created_at: datetime | None = None
    rings: bool | None = None


class SoftphoneIssuedOut(BaseModel):
    """Shown once: the password cannot be read again (only its digest HA1 is stored);
    issuing again replaces it."""
    username: str
    password: str
    realm: str
    transport: Literal["tls"] = "tls"
    media_encryption: Literal["srtp-sdes"] = "srtp-sdes"


async def _softphone(request: Request, number: str) -> SoftphoneOut:
    st = await softphones.status(portal_of(request).db, number)
    if st is None:
        return SoftphoneOut(active=False)
    return SoftphoneOut(active=True, username=st.username, created_at=st.created_at,
                        rings=st.rings)


@router.get("/numbers/{number}/softphone", response_model=SoftphoneOut,
            responses={404: {"model": ErrorOut}})
async def get_softphone(request: Request, number: str) -> SoftphoneOut:
    return await _softphone(request, await owned_number(request, number))


@router.post("/numbers/{number}/softphone", response_model=SoftphoneIssuedOut,
             responses={404: {"model": ErrorOut}})
async def post_softphone(request: Request, number: str,
                         x_csrf_token: Csrf = None) -> SoftphoneIssuedOut:
    """A new softphone password for the 050 number (the account is created, or its old
    password stops working). The response is the only time the password is shown."""
    n = await owned_number(request, number)
    _csrf(request, x_csrf_token)
    issued = await softphones.issue(portal_of(request).db, n)
    return SoftphoneIssuedOut(username=issued.username, password=issued.password,
                              realm=SOFTPHONE_REALM)


class SoftphoneRingsIn(BaseModel):
    rings: bool = Field(description="the softphone rings with the number's forwards")


@router.put("/numbers/{number}/softphone", response_model=SoftphoneOut,
            responses={404: {"model": ErrorOut}})
async def put_softphone(request: Request, number: str, body: SoftphoneRingsIn,
                        x_csrf_token: Csrf = None) -> SoftphoneOut:
    """Whether the softphone rings with forwarded calls (it can still call out)."""
    n = await owned_number(request, number)
    _csrf(request, x_csrf_token)
    if await softphones.status(portal_of(request).db, n) is None:
        raise NotFound()
    await softphones.set_rings(portal_of(request).db, n, body.rings)
    return await _softphone(request, n)


@router.delete("/numbers/{number}/softphone", response_model=SoftphoneOut,
               responses={404: {"model": ErrorOut}})
async def delete_softphone(request: Request, number: str,
                           x_csrf_token: Csrf = None) -> SoftphoneOut:
    """Revoke the softphone account: it can no longer register or be rung."""
    n = await owned_number(request, number)
    _csrf(request, x_csrf_token)
    await softphones.revoke(portal_of(request).db, n)
    return await _softphone(request, n)
