"""The subscriber pages (server-rendered, Japanese, mobile-first). Every setting follows the
guide's 入力 → 確認 → 完了 steps; every form carries the session's CSRF token."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from callflow.features.callback import outcomes
from callflow.features.callback import service as callback_service
from callflow.numbers import display
from callflow.store import InvalidValue, LimitExceeded, blocklist, forwarding
from portal import auth, data, flash, forms, login_flow
from portal.login_flow import Outcome, account_id, full_session, owned_number, pending_session
from portal.request_context import (
    TRUST_COOKIE,
    NotFound,
    Portal,
    portal_of,
    session_of,
)
from portal.request_context import ensure_session as app_ensure_session
from portal.validation import (
    BLOCK_LIMIT,
    Invalid,
    normalize_code,
    parse_id,
    sms_capable,
    validate_call_destination,
    validate_phone,
)

router = APIRouter(include_in_schema=False)

STATUS_JA = {
    "pending": "受付済み（まもなくお客さまの電話番号に電話がかかります）",
    "taken": "発信準備中",
    "ringing": "呼び出し中",
    "connected": "通話中",
    "completed": "通話終了",
    "failed": "発信できませんでした",
    "expired": "発信できませんでした（時間切れ）",
}
FINAL = {"completed", "failed", "expired"}


def render(request: Request, template: str, status_code: int = 200, **ctx: Any) -> Response:
    p = portal_of(request)
    s = session_of(request)
    ctx.setdefault("csrf", s.csrf_token if s else "")
    ctx.setdefault("errors", {})
    ctx.setdefault("number", None)
    ctx.setdefault("lab_sms", lab_sms_enabled(p))
    response = p.templates.TemplateResponse(request, template, ctx, status_code=status_code)
    return flash.consumed(request, response)


def _s(form: FormData, key: str) -> str:
    value = form.get(key)
    return value if isinstance(value, str) else ""


def _all(form: FormData, key: str) -> list[str]:
    return [v for v in form.getlist(key) if isinstance(v, str)]


async def checked_form(request: Request) -> FormData:
    form = await request.form()
    login_flow.check_csrf(request, _s(form, "csrf_token"))
    return form


async def ensure_session(request: Request) -> auth.Session:
    """The session, or a pre-login one kept only in a cookie (no row for anonymous views)."""
    return app_ensure_session(request)


def redirect(url: str) -> Response:
    return RedirectResponse(url, status_code=303)


# ------------------------------------------------------------------ login

@router.get("/")
async def home(request: Request) -> Response:
    s = session_of(request)
    if s is not None and s.stage == "full":
        return redirect("/numbers")
    return redirect("/login")


@router.get("/login")
async def login_page(request: Request) -> Response:
    await ensure_session(request)
    f = flash.take(request)
    return render(request, "login.html", email=f.value("email"), errors=f.errors)


@router.post("/login")
async def login_submit(request: Request) -> Response:
    form = await checked_form(request)
    email, password = _s(form, "email"), _s(form, "password")
    outcome = await login_flow.password_step(request, email, password)
    if outcome is Outcome.TRUSTED:
        return redirect("/numbers")
    if outcome is Outcome.OK:
        return redirect("/login/2fa")
    message = login_flow.MSG_LOCKED if outcome is Outcome.LOCKED else login_flow.MSG_BAD_LOGIN
    return flash.redirect(request, "/login", errors={"login": message},
                          values={"email": email})


@router.get("/login/2fa")
async def twofa_page(request: Request) -> Response:
    s = pending_session(request)
    contacts = await data.contacts(portal_of(request).db, account_id(s))
    return render(request, "twofa_select.html", contacts=contacts, sms_capable=sms_capable,
                  any_sms=any(sms_capable(c.number) for c in contacts),
                  errors=flash.take(request).errors)


@router.post("/login/2fa")
async def twofa_send(request: Request) -> Response:
    form = await checked_form(request)
    pending_session(request)
    result = await login_flow.send_code(request, parse_id(_s(form, "contact")),
                                      _s(form, "method"))
    if result.ok:
        return redirect("/login/code")
    return flash.redirect(request, "/login/2fa", errors={result.field: result.error})


async def _code_page(request: Request, status_code: int = 200, **ctx: Any) -> Response:
    p = portal_of(request)
    s = pending_session(request)
    challenge = await auth.get_challenge(p.db, s.challenge_id, s.account_id)
    if challenge is None:
        return redirect("/login/2fa")
    return render(request, "twofa_code.html", status_code=status_code, challenge=challenge, **ctx)


@router.get("/login/code")
async def code_page(request: Request) -> Response:
    f = flash.take(request)
    return await _code_page(request, notice=f.notice, errors=f.errors)


@router.post("/login/code")
async def code_submit(request: Request) -> Response:
    form = await checked_form(request)
    try:
        code = normalize_code(_s(form, "code"))
    except Invalid as exc:
        return flash.redirect(request, "/login/code", errors={"code": exc.message})
    result = await login_flow.verify_code(request, code)
    if not result.ok:
        return flash.redirect(request, "/login/code", errors={"code": result.error})
    response = redirect("/numbers")
    if _s(form, "trust") == "1":
        p = portal_of(request)
        s = full_session(request)
        token = await auth.trust_browser(p.db, account_id(s), p.settings.portal_trust_days)
        response.set_cookie(TRUST_COOKIE, token, max_age=p.settings.portal_trust_days * 86400,
                            httponly=True, samesite="lax", secure=p.settings.portal_cookie_secure)
    return response


@router.post("/login/code/resend")
async def code_resend(request: Request) -> Response:
    await checked_form(request)
    result = await login_flow.resend_code(request)
    if not result.ok:
        return flash.redirect(request, "/login/code", errors={"code": result.error})
    return flash.redirect(request, "/login/code", notice="認証番号を再通知しました。")


@router.post("/login/cancel")
async def login_cancel(request: Request) -> Response:
    await checked_form(request)
    await login_flow.cancel(request)
    return redirect("/login")


@router.post("/logout")
async def logout(request: Request) -> Response:
    await checked_form(request)
    s = session_of(request)
    if s is not None:
        await auth.end_session(portal_of(request).db, s)
    request.state.clear_session = True
    return redirect("/login")


# ------------------------------------------------------------------ number picker, overview

@router.get("/numbers")
async def numbers_page(request: Request) -> Response:
    s = full_session(request)
    numbers = await data.account_numbers(portal_of(request).db, account_id(s))
    if len(numbers) == 1:
        return redirect(f"/n/{numbers[0]}/")
    return render(request, "numbers.html", numbers=numbers)


@router.post("/numbers")
async def numbers_pick(request: Request) -> Response:
    form = await checked_form(request)
    number = await owned_number(request, _s(form, "number"))
    return redirect(f"/n/{number}/")


@router.get("/n/{num}/")
async def overview(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    db = portal_of(request).db
    st = await data.settings(db, number)
    dests = await forwarding.list_destinations(db, number)
    active = next((d.destination for d in dests if d.active), None)
    blocked = await blocklist.blocked_numbers(db, number)
    msgs = await data.messages(db, number)
    numbers = await data.account_numbers(db, account_id(full_session(request)))
    return render(request, "overview.html", number=number, st=st, active=active,
                  blocked_count=len(blocked), message_count=len(msgs),
                  several=len(numbers) > 1)


# ------------------------------------------------------------------ 非通知着信拒否

# The settings pages: 入力 (GET, or POST from 確認's 戻る with what was typed) → 確認 (POST,
# nothing stored) → 設定する (POST, stored, then 303 to the 完了 page — or, refused, 303 back
# to 入力 with the errors and the values in the flash).

DONE_TITLES = {
    "anonymous": "非通知着信拒否の設定",
    "forwarding": "指定番号への接続",
    "voicemail": "メッセージ（留守番電話）センターへの接続",
    "blocklist": "指定番号着信拒否の設定",
}


@router.get("/n/{num}/done/{area}")
async def done_page(request: Request, num: str, area: str) -> Response:
    number = await owned_number(request, num)
    if area not in DONE_TITLES:
        raise NotFound()
    return render(request, "done.html", number=number, title=DONE_TITLES[area],
                  message="設定が完了しました。")


@router.get("/n/{num}/anonymous")
async def anonymous_page(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    st = await data.settings(portal_of(request).db, number)
    f = flash.take(request)
    return render(request, "anonymous.html", number=number, errors=f.errors,
                  reject=f.value("reject", "reject" if st.reject_anonymous else "allow"))


@router.post("/n/{num}/anonymous")
async def anonymous_back(request: Request, num: str) -> Response:
    """確認's 戻る: the form again with the choice made."""
    number = await owned_number(request, num)
    form = await checked_form(request)
    return render(request, "anonymous.html", number=number, reject=_s(form, "reject"))


@router.post("/n/{num}/anonymous/confirm")
async def anonymous_confirm(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    form = await checked_form(request)
    value, errors = forms.parse_reject(_s(form, "reject"))
    if value is None:
        return render(request, "anonymous.html", 400, number=number, reject="", errors=errors)
    return render(request, "confirm.html", number=number, title="非通知着信拒否の設定",
                  rows=[("非通知着信拒否設定", "拒否する" if value else "拒否しない")],
                  hidden={"reject": _s(form, "reject")},
                  action=f"/n/{number}/anonymous/apply", back=f"/n/{number}/anonymous")


@router.post("/n/{num}/anonymous/apply")
async def anonymous_apply(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    form = await checked_form(request)
    value, errors = forms.parse_reject(_s(form, "reject"))
    if value is None:
        return flash.redirect(request, f"/n/{number}/anonymous", errors=errors)
    await data.set_reject_anonymous(portal_of(request).db, number, value)
    return redirect(f"/n/{number}/done/anonymous")


# ------------------------------------------------------------------ 指定番号への接続

@router.get("/n/{num}/forwarding")
async def forwarding_page(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    f = flash.take(request)
    if f.values:
        return render(request, "forwarding.html", number=number, errors=f.errors,
                      v={k: f.value(k) for k in _FORWARDING_KEYS})
    db = portal_of(request).db
    st = await data.settings(db, number)
    dests = await forwarding.list_destinations(db, number)
    values = {f"dest{i}": d.destination for i, d in enumerate(dests, start=1)}
    active = next((str(i) for i, d in enumerate(dests, start=1) if d.active), "")
    values.update(enabled="on" if st.forward_enabled else "off", active=active,
                  ring_seconds=str(st.forward_ring_seconds), show_caller=st.forward_show_caller)
    return render(request, "forwarding.html", number=number, v=values)


@router.post("/n/{num}/forwarding")
async def forwarding_back(request: Request, num: str) -> Response:
    """確認's 戻る: the form again with the destinations as typed."""
    number = await owned_number(request, num)
    v = _forwarding_fields(await checked_form(request))
    return render(request, "forwarding.html", number=number, v=v)


_FORWARDING_KEYS = ["enabled", "active", "ring_seconds", "show_caller",
                    *(f"dest{i}" for i in range(1, forwarding.MAX_DESTINATIONS + 1))]


def _forwarding_fields(form: FormData) -> dict[str, str]:
    return {k: _s(form, k) for k in _FORWARDING_KEYS}


def _parse_forwarding(number: str, v: dict[str, str]
                      ) -> tuple[forms.Forwarding | None, forms.Errors]:
    return forms.parse_forwarding(number=number, enabled=v["enabled"],
                                  destinations=[v[f"dest{i}"] for i in
                                                range(1, forwarding.MAX_DESTINATIONS + 1)],
                                  active=v["active"], ring_seconds=v["ring_seconds"],
                                  show_caller=v["show_caller"])


@router.post("/n/{num}/forwarding/confirm")
async def forwarding_confirm(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    v = _forwarding_fields(await checked_form(request))
    fwd, errors = _parse_forwarding(number, v)
    if fwd is None:
        return render(request, "forwarding.html", 400, number=number, v=v, errors=errors)
    rows = [("指定番号への接続", "接続する" if fwd.enabled else "接続しない")]
    rows += [(f"接続先{i}", display(d) + ("（接続先に指定）" if d == fwd.active else ""))
             for i, d in enumerate(fwd.destinations, start=1)]
    rows += [("呼出時間", f"{fwd.ring_seconds}秒"),
             ("接続先に表示する番号", "かけてきた相手の番号" if fwd.show_caller == "caller"
              else "050番号")]
    return render(request, "confirm.html", number=number, title="指定番号への接続",
                  rows=rows, hidden=v, action=f"/n/{number}/forwarding/apply",
                  back=f"/n/{number}/forwarding")


@router.post("/n/{num}/forwarding/apply")
async def forwarding_apply(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    v = _forwarding_fields(await checked_form(request))
    fwd, errors = _parse_forwarding(number, v)
    if fwd is not None:
        try:
            await forwarding.save_forwarding(
                portal_of(request).db, number, enabled=fwd.enabled,
                destinations=fwd.destinations, active=fwd.active,
                ring_seconds=fwd.ring_seconds, show_caller=fwd.show_caller)
        except (InvalidValue, LimitExceeded) as exc:
            errors = {"destinations": str(exc) if isinstance(exc, InvalidValue)
                      else forms.forward_limit_message()}
        else:
            return redirect(f"/n/{number}/done/forwarding")
    return flash.redirect(request, f"/n/{number}/forwarding", errors=errors,
                          values=dict(v))


# ------------------------------------------------------------ メッセージ（留守番電話）センター

@router.get("/n/{num}/voicemail")
async def voicemail_page(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    st = await data.settings(portal_of(request).db, number)
    v = {"enabled": "on" if st.voicemail_enabled else "off", "email": st.notify_email or "",
         "only_recorded": "1" if st.notify_only_recorded else "",
         "attach": "1" if st.attach_recording else "", "pin": "", "pin_confirm": ""}
    f = flash.take(request)
    if f.values:  # refused at 設定する: what was typed (never the PIN: not kept in a cookie)
        v = {k: f.value(k) for k in v}
    return render(request, "voicemail.html", number=number, v=v, pin_set=st.pin_set,
                  errors=f.errors)


@router.post("/n/{num}/voicemail")
async def voicemail_back(request: Request, num: str) -> Response:
    """確認's 戻る: the form again with what was typed."""
    number = await owned_number(request, num)
    v = _voicemail_fields(await checked_form(request))
    st = await data.settings(portal_of(request).db, number)
    return render(request, "voicemail.html", number=number, v=v, pin_set=st.pin_set)


_VOICEMAIL_KEYS = ("enabled", "email", "only_recorded", "attach", "pin", "pin_confirm")


def _voicemail_fields(form: FormData) -> dict[str, str]:
    return {k: _s(form, k) for k in _VOICEMAIL_KEYS}


async def _parse_voicemail(request: Request, number: str, v: dict[str, str]
                           ) -> tuple[forms.Voicemail | None, forms.Errors, bool]:
    st = await data.settings(portal_of(request).db, number)
    vm, errors = forms.parse_voicemail(enabled=v["enabled"], email=v["email"],
                                       only_recorded=v["only_recorded"] == "1",
                                       attach=v["attach"] == "1", pin=v["pin"],
                                       pin_confirm=v["pin_confirm"], pin_set=st.pin_set)
    return vm, errors, st.pin_set


@router.post("/n/{num}/voicemail/confirm")
async def voicemail_confirm(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    v = _voicemail_fields(await checked_form(request))
    vm, errors, pin_set = await _parse_voicemail(request, number, v)
    if vm is None:
        return render(request, "voicemail.html", 400, number=number, v=v, errors=errors,
                      pin_set=pin_set)
    rows = [("メッセージセンター", "利用する" if vm.enabled else "利用しない"),
            ("お知らせ先メールアドレス", vm.email or "（なし）"),
            ("メール通知", "メッセージが録音された場合のみ通知" if vm.only_recorded
             else "着信があるたびに通知"),
            ("録音されたメッセージをメールに添付", "添付する" if vm.attach else "添付しない"),
            ("暗証番号", "変更する（****）" if vm.pin else "変更しない")]
    return render(request, "confirm.html", number=number,
                  title="メッセージ（留守番電話）センターへの接続", rows=rows, hidden=v,
                  action=f"/n/{number}/voicemail/apply", back=f"/n/{number}/voicemail")


@router.post("/n/{num}/voicemail/apply")
async def voicemail_apply(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    v = _voicemail_fields(await checked_form(request))
    vm, errors, _pin_set = await _parse_voicemail(request, number, v)
    if vm is None:
        kept = {k: v[k] for k in _VOICEMAIL_KEYS if k not in ("pin", "pin_confirm")}
        return flash.redirect(request, f"/n/{number}/voicemail", errors=errors, values=kept)
    await data.set_voicemail(portal_of(request).db, number, enabled=vm.enabled, email=vm.email,
                             only_recorded=vm.only_recorded, attach=vm.attach,
                             pin_hash=(await portal_of(request).passwords.hash(vm.pin)
                                       if vm.pin else None))
    return redirect(f"/n/{number}/done/voicemail")


# ------------------------------------------------------------------ 指定番号着信拒否

def _block_render(request: Request, number: str, entries: list[str], status_code: int = 200,
                  **ctx: Any) -> Response:
    return render(request, "blocklist.html", status_code, number=number, entries=entries,
                  limit=BLOCK_LIMIT, **ctx)


@router.get("/n/{num}/blocklist")
async def blocklist_page(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    f = flash.take(request)
    kept = f.values_list("entry")
    if kept is not None:  # refused at 設定する: the working list as it was
        return _block_render(request, number, forms.clean_entries(kept), errors=f.errors)
    return _block_render(request, number,
                         await blocklist.blocked_numbers(portal_of(request).db, number))


@router.post("/n/{num}/blocklist")
async def blocklist_edit(request: Request, num: str) -> Response:
    """The working list travels in the form until 設定: 追加, 着信履歴から設定, 削除 checkboxes."""
    number = await owned_number(request, num)
    form = await checked_form(request)
    entries = forms.clean_entries(_all(form, "entry"))
    action = _s(form, "action")
    if action == "add":
        entries, errors = forms.add_to_blocklist(entries, _s(form, "new_number"))
        return _block_render(request, number, entries, 400 if errors else 200, errors=errors,
                             new_number=_s(form, "new_number") if errors else "")
    if action == "history":
        rows = await data.history(portal_of(request).db, number)
        return render(request, "block_history.html", number=number, entries=entries, rows=rows)
    if action == "pick":
        entry_id = parse_id(_s(form, "history_id"))
        row = (await data.history_entry(portal_of(request).db, number, entry_id)
               if entry_id is not None else None)
        if row is None or row.caller is None:
            rows = await data.history(portal_of(request).db, number)
            return render(request, "block_history.html", 400, number=number, entries=entries,
                          rows=rows, errors={"history_id": "電話番号を選択してください。"})
        entries, errors = forms.add_to_blocklist(entries, row.caller)
        return _block_render(request, number, entries, 400 if errors else 200, errors=errors)
    if action == "back":
        return _block_render(request, number, entries, ticked=set(_all(form, "delete")))
    # 設定 → 確認
    deleted = set(_all(form, "delete"))
    final = [e for e in entries if e not in deleted]
    if len(final) > BLOCK_LIMIT:
        return _block_render(request, number, entries, 400,
                             errors={"new_number": forms.limit_message()})
    summary = [("指定番号着信拒否リスト",
                "、".join(display(e) for e in final) if final else "（登録なし）")]
    if deleted & set(entries):
        summary.append(("削除する電話番号",
                        "、".join(display(e) for e in entries if e in deleted)))
    # 戻る returns the working list with the 削除 ticks as they were.
    return render(request, "confirm.html", number=number, title="指定番号着信拒否の設定",
                  rows=summary, hidden_list=("entry", final),
                  back_pairs=[("entry", e) for e in entries]
                  + [("delete", e) for e in entries if e in deleted],
                  action=f"/n/{number}/blocklist/apply", back=f"/n/{number}/blocklist")


@router.post("/n/{num}/blocklist/apply")
async def blocklist_apply(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    form = await checked_form(request)
    entries = forms.clean_entries(_all(form, "entry"))
    try:
        await blocklist.replace_blocked(portal_of(request).db, number, entries)
    except (LimitExceeded, InvalidValue):
        return flash.redirect(request, f"/n/{number}/blocklist",
                              errors={"new_number": forms.limit_message()},
                              values={"entry": entries})
    return redirect(f"/n/{number}/done/blocklist")


# ------------------------------------------------------------------ 着信 / 発信 history

@router.get("/n/{num}/history")
async def history_page(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    rows = await data.history(portal_of(request).db, number)
    return render(request, "history.html", number=number, rows=rows)


@router.get("/n/{num}/outgoing")
async def outgoing_page(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    rows = await data.outgoing(portal_of(request).db, number)
    return render(request, "outgoing.html", number=number, rows=rows, status_ja=STATUS_JA,
                  explain=outcomes.explain)


# ------------------------------------------------------------------ あんしん発信

@router.get("/n/{num}/call")
async def call_page(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    own = await data.own_numbers(portal_of(request).db, account_id(full_session(request)))
    f = flash.take(request)
    return render(request, "call.html", number=number, own=own, errors=f.errors,
                  destination=f.value("destination"),
                  chosen_own_id=parse_id(f.value("own_number")))


@router.post("/n/{num}/call")
async def call_submit(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    form = await checked_form(request)
    db = portal_of(request).db
    acct = account_id(full_session(request))
    own = await data.own_numbers(db, acct)
    raw_dest, raw_own = _s(form, "destination"), _s(form, "own_number")
    errors: forms.Errors = {}
    dest = ""
    try:
        dest = validate_call_destination(raw_dest)
    except Invalid as exc:
        errors["destination"] = exc.message
    own_id = parse_id(raw_own)
    if own_id is None or own_id not in {o.id for o in own}:
        errors["own_number"] = "発信番号を選択してください。"
    if not errors:
        try:
            request_id = await data.request_callback(db, acct, number, dest, own_id)
        except data.CallbackRefused as exc:
            errors["destination"] = exc.message_ja
        else:
            return redirect(f"/n/{number}/call/{request_id}")
    # Refused: back to the form (a reload there must not place the call after all).
    return flash.redirect(request, f"/n/{number}/call", errors=errors,
                          values={"destination": raw_dest, "own_number": raw_own})


@router.get("/n/{num}/call/{request_id}")
async def call_status(request: Request, num: str, request_id: str) -> Response:
    number = await owned_number(request, num)
    rid = parse_id(request_id)
    if rid is None:
        raise NotFound()
    req = await data.call_request(portal_of(request).db, account_id(full_session(request)), rid)
    if req is None or req.kind != "callback":
        raise NotFound()
    final = req.status in FINAL
    # A failed call says why and can be placed again (the caps of request_callback apply):
    # with the same own number while it is still registered and verified.
    own = await data.own_numbers(portal_of(request).db, account_id(full_session(request)))
    retry = next((o.id for o in own if o.number == req.leg1 and o.verified), None)
    return render(request, "call_status.html", number=number, req=req,
                  status_text=STATUS_JA.get(req.status, req.status), final=final,
                  reason_text=outcomes.explain(req.reason) if final else None,
                  retry_own_id=retry)


async def _register_context(request: Request) -> dict[str, Any]:
    """The own numbers with their latest verification call: its code while it is active
    (the person keys it in the call), why it failed once it has ended."""
    db = portal_of(request).db
    acct = account_id(full_session(request))
    own = await data.own_numbers(db, acct)
    verifications = await callback_service.latest_verifications(db, acct)
    calling = any(v.status in callback_service.ACTIVE for n, v in verifications.items()
                  if any(o.number == n and not o.verified for o in own))
    return {"own": own, "verifications": verifications, "calling": calling,
            "active_statuses": callback_service.ACTIVE, "explain": outcomes.explain}


VERIFY_NOTICE = ("確認のため、登録した電話番号にお電話します。お電話に出て、下に表示される"
                 "確認番号を入力し、最後に＃を押してください。")


@router.get("/n/{num}/call-register")
async def register_page(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    f = flash.take(request)
    return render(request, "register.html", number=number, notice=f.notice, errors=f.errors,
                  phone=f.value("phone"), **await _register_context(request))


@router.post("/n/{num}/call-register")
async def register_submit(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    form = await checked_form(request)
    db = portal_of(request).db
    acct = account_id(full_session(request))
    action = _s(form, "action")
    own_id = parse_id(_s(form, "own_id"))
    errors: forms.Errors = {}
    notice = ""
    if action == "register":
        try:
            phone = validate_phone(_s(form, "phone"), allow_050=False)
        except Invalid as exc:
            errors["phone"] = exc.message
        else:
            new_id = await data.register_own_number(db, acct, phone)
            notice = "お客さまの電話番号を登録しました。"
            try:
                await data.request_verification(db, acct, new_id)
            except data.CallbackRefused as exc:
                errors["phone"] = exc.message_ja
            else:
                notice += VERIFY_NOTICE
    elif own_id is not None and own_id in {o.id for o in await data.own_numbers(db, acct)}:
        if action == "prefer":
            await data.set_preferred(db, acct, own_id)
            notice = "優先する発信番号を設定しました。"
        elif action == "verify":
            try:
                await data.request_verification(db, acct, own_id)
            except data.CallbackRefused as exc:
                errors["phone"] = exc.message_ja
            else:
                notice = VERIFY_NOTICE
        elif action == "delete":
            await data.remove_own_number(db, acct, own_id)
            notice = "電話番号を削除しました。"
    else:
        errors["phone"] = "電話番号を選択してください。"
    return flash.redirect(request, f"/n/{number}/call-register", notice=notice, errors=errors,
                          values={"phone": _s(form, "phone")} if errors else None)


# ------------------------------------------------------------------ voicemail messages

@router.get("/n/{num}/messages")
async def messages_page(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    msgs = await data.messages(portal_of(request).db, number)
    f = flash.take(request)
    return render(request, "messages.html", number=number, msgs=msgs, notice=f.notice,
                  errors=f.errors)


@router.get("/n/{num}/messages/{message_id}.wav")
async def message_audio(request: Request, num: str, message_id: str) -> Response:
    number = await owned_number(request, num)
    mid = parse_id(message_id)
    if mid is None:
        raise NotFound()
    audio = await data.message_audio(portal_of(request).db, number, mid)
    if audio is None:
        raise NotFound()
    return Response(audio, media_type="audio/wav",
                    headers={"Cache-Control": "private, no-store",
                             "Content-Disposition": f'inline; filename="message-{mid}.wav"'})


@router.post("/n/{num}/messages/delete")
async def messages_delete(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    form = await checked_form(request)
    ids = [i for i in map(parse_id, _all(form, "delete")) if i is not None]
    if not ids:
        return flash.redirect(request, f"/n/{number}/messages",
                              errors={"delete": "削除するメッセージを選択してください。"})
    count = await data.delete_messages(portal_of(request).db, number, ids)
    return flash.redirect(request, f"/n/{number}/messages",
                          notice=f"{count}件のメッセージを削除しました。" if count else "")


# ------------------------------------------------------------------ lab SMS inbox

def lab_sms_enabled(p: Portal) -> bool:
    """The lab SMS inbox shows every code sent, to anyone: it exists only in a lab that turns
    on the lab pages (ANSHIN_PORTAL_LAB_PAGES=1) and keeps SMS in the lab outbox."""
    return p.settings.portal_lab_pages and p.settings.portal_sms_provider == "lab"


@router.get("/lab/sms")
async def lab_sms(request: Request) -> Response:
    p = portal_of(request)
    if not lab_sms_enabled(p):
        raise NotFound()
    async with p.db.connection() as conn:
        cur = await conn.execute("SELECT to_number, body, created_at FROM sms_outbox"
                                 " ORDER BY id DESC LIMIT 50")
        rows = await cur.fetchall()
    return render(request, "lab_sms.html", rows=rows)
