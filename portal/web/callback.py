"""あんしん発信: placing a call through the service, its status page, and registering and
verifying the subscriber's own numbers (the verification call)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from callflow.features.callback import outcomes
from callflow.features.callback import service as callback_service
from portal import data, flash, forms
from portal.login_flow import account_id, full_session, owned_number
from portal.request_context import NotFound, portal_of
from portal.validation import Invalid, parse_id, validate_call_destination, validate_phone
from portal.web.common import checked_form, form_text, redirect, render

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
    raw_dest, raw_own = form_text(form, "destination"), form_text(form, "own_number")
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
            request_id = await callback_service.request_callback(db, acct, number, dest,
                                                              own_number_id=own_id)
        except callback_service.CallbackRefused as exc:
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
    action = form_text(form, "action")
    own_id = parse_id(form_text(form, "own_id"))
    errors: forms.Errors = {}
    notice = ""
    if action == "register":
        try:
            phone = validate_phone(form_text(form, "phone"), allow_050=False)
        except Invalid as exc:
            errors["phone"] = exc.message
        else:
            new_id = await callback_service.register_own_number(db, acct, phone)
            notice = "お客さまの電話番号を登録しました。"
            try:
                await callback_service.request_verification(db, acct, new_id)
            except callback_service.CallbackRefused as exc:
                errors["phone"] = exc.message_ja
            else:
                notice += VERIFY_NOTICE
    elif own_id is not None and own_id in {o.id for o in await data.own_numbers(db, acct)}:
        if action == "prefer":
            await callback_service.set_preferred(db, acct, own_id)
            notice = "優先する発信番号を設定しました。"
        elif action == "verify":
            try:
                await callback_service.request_verification(db, acct, own_id)
            except callback_service.CallbackRefused as exc:
                errors["phone"] = exc.message_ja
            else:
                notice = VERIFY_NOTICE
        elif action == "delete":
            await callback_service.remove_own_number(db, acct, own_id)
            notice = "電話番号を削除しました。"
    else:
        errors["phone"] = "電話番号を選択してください。"
    return flash.redirect(request, f"/n/{number}/call-register", notice=notice, errors=errors,
                          values={"phone": form_text(form, "phone")} if errors else None)
