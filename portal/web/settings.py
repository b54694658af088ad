"""The settings of one 050 number: the overview page, 非通知着信拒否, 指定番号への接続,
メッセージ（留守番電話）センターへの接続, and the 完了 pages that end them."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from callflow.numbers import display
from callflow.quiet_hours import WEEKDAY_NAMES_JA, QuietHours, describe_window, format_minute
from callflow.store import (
    InvalidValue,
    LimitExceeded,
    blocklist,
    call_screening,
    forwarding,
    likely_spam,
    quiet_hours,
    subscribers,
)
from portal import data, flash, forms
from portal.login_flow import account_id, full_session, owned_number
from portal.request_context import NotFound, portal_of
from portal.web.common import checked_form, form_text, redirect, render

router = APIRouter(include_in_schema=False)


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
    quiet = await quiet_hours.get_quiet_hours(db, number)
    spam_reject = await likely_spam.rejects(db, number)
    return render(request, "overview.html", number=number, st=st, active=active,
                  spam_reject=spam_reject,
                  screening=await call_screening.get_call_screening(db, number),
                  blocked_count=len(blocked), message_count=len(msgs),
                  several=len(numbers) > 1, quiet=quiet,
                  forward_mode=await forwarding.get_forward_mode(db, number),
                  dest_count=len(dests))


# ------------------------------------------------------------------ 非通知着信拒否

# The settings pages: 入力 (GET, or POST from 確認's 戻る with what was typed) → 確認 (POST,
# nothing stored) → 設定する (POST, stored, then 303 to the 完了 page — or, refused, 303 back
# to 入力 with the errors and the values in the flash).

DONE_TITLES = {
    "anonymous": "非通知着信拒否の設定",
    "forwarding": "指定番号への接続",
    "voicemail": "メッセージ（留守番電話）センターへの接続",
    "blocklist": "指定番号着信拒否の設定",
    "quiet": "おやすみモードの設定",
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
    return render(request, "anonymous.html", number=number, reject=form_text(form, "reject"))


@router.post("/n/{num}/anonymous/confirm")
async def anonymous_confirm(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    form = await checked_form(request)
    value, errors = forms.parse_reject(form_text(form, "reject"))
    if value is None:
        return render(request, "anonymous.html", 400, number=number, reject="", errors=errors)
    return render(request, "confirm.html", number=number, title="非通知着信拒否の設定",
                  rows=[("非通知着信拒否設定", "拒否する" if value else "拒否しない")],
                  hidden={"reject": form_text(form, "reject")},
                  action=f"/n/{number}/anonymous/apply", back=f"/n/{number}/anonymous")


@router.post("/n/{num}/anonymous/apply")
async def anonymous_apply(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    form = await checked_form(request)
    value, errors = forms.parse_reject(form_text(form, "reject"))
    if value is None:
        return flash.redirect(request, f"/n/{number}/anonymous", errors=errors)
    await subscribers.set_reject_anonymous(portal_of(request).db, number, value)
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
    values.update({f"ring{i}": str(d.ring_seconds or "") for i, d in enumerate(dests, start=1)})
    active = next((str(i) for i, d in enumerate(dests, start=1) if d.active), "")
    values.update(enabled="on" if st.forward_enabled else "off", active=active,
                  ring_seconds=str(st.forward_ring_seconds), show_caller=st.forward_show_caller,
                  mode=await forwarding.get_forward_mode(db, number))
    return render(request, "forwarding.html", number=number, v=values)


@router.post("/n/{num}/forwarding")
async def forwarding_back(request: Request, num: str) -> Response:
    """確認's 戻る: the form again with the destinations as typed."""
    number = await owned_number(request, num)
    v = _forwarding_fields(await checked_form(request))
    return render(request, "forwarding.html", number=number, v=v)


_FORWARDING_KEYS = ["enabled", "active", "ring_seconds", "show_caller", "mode",
                    *(f"dest{i}" for i in range(1, forwarding.MAX_DESTINATIONS + 1)),
                    *(f"ring{i}" for i in range(1, forwarding.MAX_DESTINATIONS + 1))]


def _forwarding_fields(form: FormData) -> dict[str, str]:
    return {k: form_text(form, k) for k in _FORWARDING_KEYS}


def _parse_forwarding(number: str, v: dict[str, str]
                      ) -> tuple[forms.Forwarding | None, forms.Errors]:
    return forms.parse_forwarding(number=number, enabled=v["enabled"],
                                  destinations=[v[f"dest{i}"] for i in
                                                range(1, forwarding.MAX_DESTINATIONS + 1)],
                                  active=v["active"], ring_seconds=v["ring_seconds"],
                                  show_caller=v["show_caller"], mode=v["mode"] or "single",
                                  ring_each=[v[f"ring{i}"] for i in
                                             range(1, forwarding.MAX_DESTINATIONS + 1)])


@router.post("/n/{num}/forwarding/confirm")
async def forwarding_confirm(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    v = _forwarding_fields(await checked_form(request))
    fwd, errors = _parse_forwarding(number, v)
    if fwd is None:
        return render(request, "forwarding.html", 400, number=number, v=v, errors=errors)
    rows = [("指定番号への接続", "接続する" if fwd.enabled else "接続しない"),
            ("接続のしかた", forms.FORWARD_MODE_LABELS[fwd.mode])]
    sequential = fwd.mode == "sequential"
    rows += [(f"接続先{i}", display(d)
              + ("（接続先に指定）" if d == fwd.active and fwd.mode == "single" else "")
              + (f"（{each or fwd.ring_seconds}秒）" if sequential else ""))
             for i, (d, each) in enumerate(zip(fwd.destinations, fwd.ring_each, strict=False),
                                           start=1)]
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
                ring_seconds=fwd.ring_seconds, show_caller=fwd.show_caller, mode=fwd.mode,
                ring_each=fwd.ring_each)
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
    return {k: form_text(form, k) for k in _VOICEMAIL_KEYS}


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
    await subscribers.set_voicemail_center(
        portal_of(request).db, number, enabled=vm.enabled, email=vm.email,
        only_recorded=vm.only_recorded, attach=vm.attach,
        pin_hash=await portal_of(request).passwords.hash(vm.pin) if vm.pin else None)
    return redirect(f"/n/{number}/done/voicemail")


# ------------------------------------------------------------------ おやすみモード

# "handling", not "action": the confirmation's 戻る button is name="action".
_QUIET_KEYS = ["enabled", "handling", "exceptions",
               *(f"start{d}" for d in range(7)), *(f"end{d}" for d in range(7))]


def _quiet_values(q: QuietHours) -> dict[str, str]:
    v = {k: "" for k in _QUIET_KEYS}
    v.update(enabled="on" if q.enabled else "off", handling=q.action.value,
             exceptions="\n".join(q.exceptions))
    for w in q.windows:
        v[f"start{w.weekday}"], v[f"end{w.weekday}"] = format_minute(w.start), format_minute(w.end)
    return v


def _quiet_fields(form: FormData) -> dict[str, str]:
    return {k: form_text(form, k) for k in _QUIET_KEYS}


def _parse_quiet(v: dict[str, str]) -> tuple[QuietHours | None, forms.Errors]:
    return forms.parse_quiet_hours(
        enabled=v["enabled"], action=v["handling"],
        starts=[v[f"start{d}"] for d in range(7)], ends=[v[f"end{d}"] for d in range(7)],
        exceptions=forms.split_numbers(v["exceptions"]))


def _quiet_page(request: Request, number: str, v: dict[str, str], status_code: int = 200,
                errors: forms.Errors | None = None) -> Response:
    return render(request, "quiet_hours.html", status_code, number=number, v=v,
                  errors=errors or {}, days=list(enumerate(WEEKDAY_NAMES_JA)),
                  exception_limit=quiet_hours.MAX_EXCEPTIONS)


@router.get("/n/{num}/quiet")
async def quiet_page(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    f = flash.take(request)
    if f.values:
        return _quiet_page(request, number, {k: f.value(k) for k in _QUIET_KEYS},
                           errors=f.errors)
    q = await quiet_hours.get_quiet_hours(portal_of(request).db, number)
    return _quiet_page(request, number, _quiet_values(q))


@router.post("/n/{num}/quiet")
async def quiet_back(request: Request, num: str) -> Response:
    """確認's 戻る: the form again with what was typed."""
    number = await owned_number(request, num)
    return _quiet_page(request, number, _quiet_fields(await checked_form(request)))


@router.post("/n/{num}/quiet/confirm")
async def quiet_confirm(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    v = _quiet_fields(await checked_form(request))
    q, errors = _parse_quiet(v)
    if q is None:
        return _quiet_page(request, number, v, 400, errors)
    by_day = {w.weekday: describe_window(w) for w in q.windows}
    rows = [("おやすみモード", "利用する" if q.enabled else "利用しない"),
            ("おやすみモード中の着信", "メッセージセンターへ接続" if q.action.value == "voicemail"
             else "お断りのアナウンスを流す")]
    rows += [(f"{name}曜日", by_day.get(d, "なし")) for d, name in enumerate(WEEKDAY_NAMES_JA)]
    rows += [("例外の電話番号", "、".join(display(n) for n in q.exceptions) or "なし")]
    return render(request, "confirm.html", number=number, title="おやすみモードの設定",
                  rows=rows, hidden=v, action=f"/n/{number}/quiet/apply",
                  back=f"/n/{number}/quiet")


@router.post("/n/{num}/quiet/apply")
async def quiet_apply(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    v = _quiet_fields(await checked_form(request))
    q, errors = _parse_quiet(v)
    if q is not None:
        try:
            await quiet_hours.save_quiet_hours(portal_of(request).db, number, q)
        except InvalidValue as exc:
            errors = {"exceptions": str(exc)}
        except LimitExceeded:
            errors = {"exceptions": forms.quiet_exception_limit_message()}
        else:
            return redirect(f"/n/{number}/done/quiet")
    return flash.redirect(request, f"/n/{number}/quiet", errors=errors, values=dict(v))
