"""名乗り確認 (call screening): whether a caller the subscriber has not accepted before says
their name first, which the subscriber hears on answering and then takes the call (1) or
sends it to the voicemail center (2); and up to 10 numbers that always ring without the
question. 入力 → 確認 → 完了, like every setting (callflow/store/call_screening.py; the call
path: features/inbound/forwarding.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from callflow.numbers import display
from callflow.store import InvalidValue, LimitExceeded, call_screening
from portal import flash, forms
from portal.login_flow import owned_number
from portal.request_context import portal_of
from portal.web.common import checked_form, form_text, redirect, render

router = APIRouter(include_in_schema=False)

TITLE = "名乗り確認の設定"
CHOICES = forms.SCREENING_CHOICES
_KEYS = ("screening", "exceptions")


def _fields(form: FormData) -> dict[str, str]:
    return {k: form_text(form, k) for k in _KEYS}


def _page(request: Request, number: str, v: dict[str, str], status_code: int = 200,
          errors: forms.Errors | None = None) -> Response:
    return render(request, "call_screening.html", status_code, number=number, v=v,
                  choices=CHOICES, errors=errors or {},
                  exception_limit=call_screening.MAX_EXCEPTIONS)


@router.get("/n/{num}/screening")
async def screening_page(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    f = flash.take(request)
    if f.values:
        return _page(request, number, {k: f.value(k) for k in _KEYS}, errors=f.errors)
    db = portal_of(request).db
    on = await call_screening.get_call_screening(db, number)
    listed = await call_screening.get_exceptions(db, number)
    return _page(request, number, {"screening": "on" if on else "off",
                                   "exceptions": "\n".join(listed)})


@router.post("/n/{num}/screening")
async def screening_back(request: Request, num: str) -> Response:
    """確認's 戻る: the form again with what was typed."""
    number = await owned_number(request, num)
    return _page(request, number, _fields(await checked_form(request)))


@router.post("/n/{num}/screening/confirm")
async def screening_confirm(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    v = _fields(await checked_form(request))
    parsed, errors = forms.parse_call_screening(v)
    if parsed is None:
        return _page(request, number, v, 400, errors)
    on, numbers = parsed
    rows = [("名乗り確認", CHOICES["on" if on else "off"]),
            ("名乗り確認なしでおつなぎする電話番号",
             "、".join(display(n) for n in numbers) or "なし")]
    return render(request, "confirm.html", number=number, title=TITLE, rows=rows, hidden=v,
                  action=f"/n/{number}/screening/apply", back=f"/n/{number}/screening")


@router.post("/n/{num}/screening/apply")
async def screening_apply(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    v = _fields(await checked_form(request))
    parsed, errors = forms.parse_call_screening(v)
    if parsed is not None:
        try:
            await call_screening.set_call_screening(portal_of(request).db, number, parsed[0],
                                                    parsed[1])
            return redirect(f"/n/{number}/screening/done")
        except InvalidValue as exc:
            errors = {"exceptions": str(exc)}
        except LimitExceeded:
            errors = {"exceptions": forms.screening_exception_limit_message()}
    return flash.redirect(request, f"/n/{number}/screening", errors=errors, values=v)


@router.get("/n/{num}/screening/done")
async def screening_done(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    return render(request, "done.html", number=number, title=TITLE, message="設定が完了しました。")
