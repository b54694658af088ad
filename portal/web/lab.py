"""Lab-only pages (off in production): the lab SMS inbox that shows every code sent."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from portal.request_context import NotFound, portal_of
from portal.web.common import lab_sms_enabled, render

router = APIRouter(include_in_schema=False)


@router.get("/lab/sms")
async def lab_sms(request: Request) -> Response:
    p = portal_of(request)
    if not lab_sms_enabled(p):
        raise NotFound()
    async with p.db.connection() as conn:
        cur = await conn.execute("SELECT to_number, body, created_at FROM sms_outbox"
                                 " ORDER BY id DESC LIMIT 50")
        rows = await cur.fetchall()
    return render(request, "lab_sms.html", rows=rows)
