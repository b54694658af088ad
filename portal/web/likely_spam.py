"""迷惑電話の可能性: whether calls from numbers many subscribers block go straight to the
rejection announcement (入力 → 確認 → 完了, like every setting). The label itself needs no
setting: the history, the mail and this page show it; who blocked a number, and how many,
is never shown (callflow/store/likely_spam.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from callflow.store import likely_spam
from portal import flash
from portal.login_flow import owned_number
from portal.request_context import portal_of
from portal.web.common import checked_form, form_text, redirect, render

router = APIRouter(include_in_schema=False)

TITLE = "迷惑電話の可能性がある着信の拒否"
CHOICES = {"reject": "拒否する", "allow": "拒否しない（着信履歴などに表示のみ）"}


def parse(raw: str) -> tuple[bool | None, dict[str, str]]:
    if raw in CHOICES:
        return raw == "reject", {}
    return None, {"reject": "迷惑電話の可能性がある着信の扱いを選択してください。"}


@router.get("/n/{num}/likely-spam")
async def likely_spam_page(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    rejects = await likely_spam.rejects(portal_of(request).db, number)
    f = flash.take(request)
    return render(request, "likely_spam.html", number=number, errors=f.errors,
                  choices=CHOICES, reject=f.value("reject", "reject" if rejects else "allow"))


@router.post("/n/{num}/likely-spam")
async def likely_spam_back(request: Request, num: str) -> Response:
    """確認's 戻る: the form again with the choice made."""
    number = await owned_number(request, num)
    form = await checked_form(request)
    return render(request, "likely_spam.html", number=number, choices=CHOICES,
                  reject=form_text(form, "reject"))


@router.post("/n/{num}/likely-spam/confirm")
async def likely_spam_confirm(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    form = await checked_form(request)
    raw = form_text(form, "reject")
    value, errors = parse(raw)
    if value is None:
        return render(request, "likely_spam.html", 400, number=number, choices=CHOICES,
                      reject="", errors=errors)
    return render(request, "confirm.html", number=number, title=TITLE,
                  rows=[("迷惑電話の可能性がある着信", CHOICES[raw])], hidden={"reject": raw},
                  action=f"/n/{number}/likely-spam/apply", back=f"/n/{number}/likely-spam")


@router.post("/n/{num}/likely-spam/apply")
async def likely_spam_apply(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    form = await checked_form(request)
    value, errors = parse(form_text(form, "reject"))
    if value is None:
        return flash.redirect(request, f"/n/{number}/likely-spam", errors=errors)
    await likely_spam.set_reject(portal_of(request).db, number, value)
    return redirect(f"/n/{number}/likely-spam/done")


@router.get("/n/{num}/likely-spam/done")
async def likely_spam_done(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    return render(request, "done.html", number=number, title=TITLE, message="設定が完了しました。")
