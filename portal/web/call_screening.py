"""名乗り確認 (call screening): whether a caller the subscriber has not accepted before says
their name first, which the subscriber hears on answering and then takes the call (1) or
sends it to the voicemail center (2). 入力 → 確認 → 完了, like every setting
(callflow/store/call_screening.py; the call path: features/inbound/forwarding.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from callflow.store import call_screening
from portal import flash
from portal.login_flow import owned_number
from portal.request_context import portal_of
from portal.web.common import checked_form, form_text, redirect, render

router = APIRouter(include_in_schema=False)

TITLE = "名乗り確認の設定"
CHOICES = {"on": "利用する", "off": "利用しない"}


def parse(raw: str) -> tuple[bool | None, dict[str, str]]:
    if raw in CHOICES:
        return raw == "on", {}
    return None, {"screening": "名乗り確認を利用するかどうかを選択してください。"}


@router.get("/n/{num}/screening")
async def screening_page(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    on = await call_screening.get_call_screening(portal_of(request).db, number)
    f = flash.take(request)
    return render(request, "call_screening.html", number=number, errors=f.errors,
                  choices=CHOICES, screening=f.value("screening", "on" if on else "off"))


@router.post("/n/{num}/screening")
async def screening_back(request: Request, num: str) -> Response:
    """確認's 戻る: the form again with the choice made."""
    number = await owned_number(request, num)
    form = await checked_form(request)
    return render(request, "call_screening.html", number=number, choices=CHOICES,
                  screening=form_text(form, "screening"))


@router.post("/n/{num}/screening/confirm")
async def screening_confirm(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    form = await checked_form(request)
    raw = form_text(form, "screening")
    value, errors = parse(raw)
    if value is None:
        return render(request, "call_screening.html", 400, number=number, choices=CHOICES,
                      screening="", errors=errors)
    return render(request, "confirm.html", number=number, title=TITLE,
                  rows=[("名乗り確認", CHOICES[raw])], hidden={"screening": raw},
                  action=f"/n/{number}/screening/apply", back=f"/n/{number}/screening")


@router.post("/n/{num}/screening/apply")
async def screening_apply(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    form = await checked_form(request)
    value, errors = parse(form_text(form, "screening"))
    if value is None:
        return flash.redirect(request, f"/n/{number}/screening", errors=errors)
    await call_screening.set_call_screening(portal_of(request).db, number, value)
    return redirect(f"/n/{number}/screening/done")


@router.get("/n/{num}/screening/done")
async def screening_done(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    return render(request, "done.html", number=number, title=TITLE, message="設定が完了しました。")
