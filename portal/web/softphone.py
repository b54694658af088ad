"""ソフトフォン: the 050 number in a SIP softphone app (入力 → 確認 → 完了). Issuing shows the
new password once, on the 完了 page itself (never in a URL, a flash or a log; the page is not
cached); only its HA1 is stored (callflow/softphone.py, store/softphones.py). Issuing again
replaces the password; the subscriber may stop the softphone, or have it ring with
forwarded calls or not."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from callflow.softphone import REALM
from callflow.store import softphones
from portal import flash
from portal.login_flow import owned_number
from portal.request_context import portal_of
from portal.web.common import checked_form, form_text, redirect, render

router = APIRouter(include_in_schema=False)

TITLE = "ソフトフォン（050番号アプリ）"
CHOICES = {
    "issue": "パスワードを発行する（再発行すると以前のパスワードは使えなくなります）",
    "ring_on": "転送時にソフトフォンも呼び出す",
    "ring_off": "転送時にソフトフォンを呼び出さない",
    "revoke": "ソフトフォンの利用をやめる",
}
MSG_CHOOSE = "操作を選択してください。"
MSG_NONE = "ソフトフォンのパスワードが発行されていません。"


async def _check(request: Request, number: str, raw: str) -> dict[str, str]:
    if raw not in CHOICES:
        return {"choice": MSG_CHOOSE}
    if raw != "issue" and await softphones.status(portal_of(request).db, number) is None:
        return {"choice": MSG_NONE}
    return {}


async def _page(request: Request, number: str, status_code: int = 200, *, choice: str = "",
                errors: dict[str, str] | None = None) -> Response:
    status = await softphones.status(portal_of(request).db, number)
    return render(request, "softphone.html", status_code, number=number, status=status,
                  choices=CHOICES, choice=choice, errors=errors or {})


@router.get("/n/{num}/softphone")
async def softphone_page(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    f = flash.take(request)
    return await _page(request, number, choice=f.value("choice", ""), errors=f.errors)


@router.post("/n/{num}/softphone")
async def softphone_back(request: Request, num: str) -> Response:
    """確認's 戻る: the form again with the choice made."""
    number = await owned_number(request, num)
    form = await checked_form(request)
    return await _page(request, number, choice=form_text(form, "choice"))


@router.post("/n/{num}/softphone/confirm")
async def softphone_confirm(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    form = await checked_form(request)
    raw = form_text(form, "choice")
    errors = await _check(request, number, raw)
    if errors:
        return await _page(request, number, 400, errors=errors)
    return render(request, "confirm.html", number=number, title=TITLE,
                  rows=[("操作", CHOICES[raw])], hidden={"choice": raw},
                  action=f"/n/{number}/softphone/apply", back=f"/n/{number}/softphone")


@router.post("/n/{num}/softphone/apply")
async def softphone_apply(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    form = await checked_form(request)
    raw = form_text(form, "choice")
    errors = await _check(request, number, raw)
    if errors:
        return flash.redirect(request, f"/n/{number}/softphone", errors=errors)
    db = portal_of(request).db
    if raw == "issue":
        issued = await softphones.issue(db, number)
        response = render(request, "softphone_issued.html", number=number, title=TITLE,
                          issued=issued, realm=REALM)
        response.headers["Cache-Control"] = "no-store"
        return response
    if raw == "revoke":
        await softphones.revoke(db, number)
    else:
        await softphones.set_rings(db, number, raw == "ring_on")
    return redirect(f"/n/{number}/softphone/done")


@router.get("/n/{num}/softphone/done")
async def softphone_done(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    return render(request, "done.html", number=number, title=TITLE, message="設定が完了しました。")
