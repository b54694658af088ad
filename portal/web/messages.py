"""お預かりメッセージ: listing, playing and deleting the voicemail messages of one 050 number."""

from __future__ import annotations

import unicodedata

from fastapi import APIRouter, Request
from fastapi.responses import Response

from callflow.store import mailbox
from portal import data, flash
from portal.login_flow import owned_number
from portal.request_context import NotFound, portal_of
from portal.validation import parse_id
from portal.web.common import checked_form, form_list, render

router = APIRouter(include_in_schema=False)


@router.get("/n/{num}/messages")
async def messages_page(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    search = message_search(request.query_params.get("q", ""))
    msgs = await data.messages(portal_of(request).db, number, search)
    f = flash.take(request)
    return render(request, "messages.html", number=number, msgs=msgs, notice=f.notice,
                  errors=f.errors, q=search)


def message_search(raw: str) -> str:
    """What the search box asks for: NFKC (full-width Latin letters and digits, half-width
    katakana as the recogniser writes them), spaces trimmed, at most 50 characters."""
    return unicodedata.normalize("NFKC", raw).strip()[:50]


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
    ids = [i for i in map(parse_id, form_list(form, "delete")) if i is not None]
    if not ids:
        return flash.redirect(request, f"/n/{number}/messages",
                              errors={"delete": "削除するメッセージを選択してください。"})
    count = await mailbox.delete_messages(portal_of(request).db, number, ids)
    return flash.redirect(request, f"/n/{number}/messages",
                          notice=f"{count}件のメッセージを削除しました。" if count else "")
