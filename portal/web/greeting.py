"""応答メッセージ: the greeting callers hear before the beep — the subscriber's own (recorded
in the message center with 9#, or uploaded here) or the standard one."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from callflow.greeting import MAX_UPLOAD_BYTES, PROBLEM_JA, BadGreeting
from callflow.store import greetings
from portal import flash, greeting_upload
from portal.login_flow import owned_number
from portal.request_context import NotFound, portal_of
from portal.web.common import checked_form, render

router = APIRouter(include_in_schema=False)


@router.get("/n/{num}/greeting")
async def greeting_page(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    info = await greetings.greeting_info(portal_of(request).db, number)
    f = flash.take(request)
    return render(request, "greeting.html", number=number, info=info, notice=f.notice,
                  errors=f.errors)


@router.get("/n/{num}/greeting.wav")
async def greeting_audio(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    audio = await greetings.greeting_audio(portal_of(request).db, number)
    if audio is None:
        raise NotFound()
    return Response(audio, media_type="audio/wav",
                    headers={"Cache-Control": "private, no-store",
                             "Content-Disposition": 'inline; filename="greeting.wav"'})


@router.post("/n/{num}/greeting/upload")
async def greeting_upload_form(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    form = await checked_form(request)
    file = form.get("file")
    data = await file.read(MAX_UPLOAD_BYTES + 1) if isinstance(file, UploadFile) else b""
    page = f"/n/{number}/greeting"
    if not data:
        return flash.redirect(request, page, errors={"file": "音声ファイルを選択してください。"})
    try:
        audio = await greeting_upload.upload(portal_of(request).db, number, data,
                                             datetime.now(UTC))
    except BadGreeting as exc:
        return flash.redirect(request, page, errors={"file": PROBLEM_JA[exc.problem]})
    return flash.redirect(request, page, notice=f"応答メッセージを登録しました"
                          f"（{round(audio.duration_ms / 1000)}秒）。")


@router.post("/n/{num}/greeting/standard")
async def greeting_standard(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    await checked_form(request)
    removed = await greetings.remove_greeting(portal_of(request).db, number)
    return flash.redirect(request, f"/n/{number}/greeting",
                          notice="標準の応答メッセージに戻しました。" if removed else "")
