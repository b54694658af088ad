"""着信履歴 and 発信履歴 (あんしん発信 requests) of one 050 number."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from callflow.features.callback import outcomes
from portal import data
from portal.login_flow import owned_number
from portal.request_context import portal_of
from portal.web.callback import STATUS_JA
from portal.web.common import render

router = APIRouter(include_in_schema=False)


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
