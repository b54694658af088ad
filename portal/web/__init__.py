"""The subscriber pages (server-rendered, Japanese, mobile-first), one module per area. Every
setting follows the guide's 入力 → 確認 → 完了 steps; every form carries the session's CSRF token.

`router` holds every page, in the order the areas are included below."""

from __future__ import annotations

from fastapi import APIRouter

from portal.web import (
    blocklist,
    call_screening,
    callback,
    greeting,
    history,
    lab,
    likely_spam,
    login,
    messages,
    settings,
    softphone,
)

router = APIRouter(include_in_schema=False)
for area in (login, settings, blocklist, history, callback, messages, greeting, likely_spam,
             call_screening, softphone, lab):
    router.include_router(area.router)
