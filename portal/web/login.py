"""Login pages: password, choosing and checking the two-factor code (SMS or voice call),
cancel, logout, and the number picker a login lands on."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from portal import auth, data, flash, login_flow
from portal.login_flow import Outcome, account_id, full_session, owned_number, pending_session
from portal.request_context import TRUST_COOKIE, portal_of, session_of
from portal.validation import Invalid, normalize_code, parse_id, sms_capable
from portal.web.common import checked_form, ensure_session, form_text, redirect, render

router = APIRouter(include_in_schema=False)


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
    email, password = form_text(form, "email"), form_text(form, "password")
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
    result = await login_flow.send_code(request, parse_id(form_text(form, "contact")),
                                      form_text(form, "method"))
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
        code = normalize_code(form_text(form, "code"))
    except Invalid as exc:
        return flash.redirect(request, "/login/code", errors={"code": exc.message})
    result = await login_flow.verify_code(request, code)
    if not result.ok:
        return flash.redirect(request, "/login/code", errors={"code": result.error})
    response = redirect("/numbers")
    if form_text(form, "trust") == "1":
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


# ------------------------------------------------------------------ number picker

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
    number = await owned_number(request, form_text(form, "number"))
    return redirect(f"/n/{number}/")
