"""指定番号着信拒否: the block list, edited as a working list until 設定, also from the
着信履歴."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from callflow.numbers import display
from callflow.store import InvalidValue, LimitExceeded, blocklist
from portal import data, flash, forms
from portal.login_flow import owned_number
from portal.request_context import portal_of
from portal.validation import BLOCK_LIMIT, parse_id
from portal.web.common import checked_form, form_list, form_text, redirect, render

router = APIRouter(include_in_schema=False)

def _block_render(request: Request, number: str, entries: list[str], status_code: int = 200,
                  **ctx: Any) -> Response:
    return render(request, "blocklist.html", status_code, number=number, entries=entries,
                  limit=BLOCK_LIMIT, **ctx)


@router.get("/n/{num}/blocklist")
async def blocklist_page(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    f = flash.take(request)
    kept = f.values_list("entry")
    if kept is not None:  # refused at 設定する: the working list as it was
        return _block_render(request, number, forms.clean_entries(kept), errors=f.errors)
    return _block_render(request, number,
                         await blocklist.blocked_numbers(portal_of(request).db, number))


@router.post("/n/{num}/blocklist")
async def blocklist_edit(request: Request, num: str) -> Response:
    """The working list travels in the form until 設定: 追加, 着信履歴から設定, 削除 checkboxes."""
    number = await owned_number(request, num)
    form = await checked_form(request)
    entries = forms.clean_entries(form_list(form, "entry"))
    action = form_text(form, "action")
    if action == "add":
        entries, errors = forms.add_to_blocklist(entries, form_text(form, "new_number"))
        return _block_render(request, number, entries, 400 if errors else 200, errors=errors,
                             new_number=form_text(form, "new_number") if errors else "")
    if action == "history":
        rows = await data.history(portal_of(request).db, number)
        return render(request, "block_history.html", number=number, entries=entries, rows=rows)
    if action == "pick":
        entry_id = parse_id(form_text(form, "history_id"))
        row = (await data.history_entry(portal_of(request).db, number, entry_id)
               if entry_id is not None else None)
        if row is None or row.caller is None:
            rows = await data.history(portal_of(request).db, number)
            return render(request, "block_history.html", 400, number=number, entries=entries,
                          rows=rows, errors={"history_id": "電話番号を選択してください。"})
        entries, errors = forms.add_to_blocklist(entries, row.caller)
        return _block_render(request, number, entries, 400 if errors else 200, errors=errors)
    if action == "back":
        return _block_render(request, number, entries, ticked=set(form_list(form, "delete")))
    # 設定 → 確認
    deleted = set(form_list(form, "delete"))
    final = [e for e in entries if e not in deleted]
    if len(final) > BLOCK_LIMIT:
        return _block_render(request, number, entries, 400,
                             errors={"new_number": forms.limit_message()})
    summary = [("指定番号着信拒否リスト",
                "、".join(display(e) for e in final) if final else "（登録なし）")]
    if deleted & set(entries):
        summary.append(("削除する電話番号",
                        "、".join(display(e) for e in entries if e in deleted)))
    # 戻る returns the working list with the 削除 ticks as they were.
    return render(request, "confirm.html", number=number, title="指定番号着信拒否の設定",
                  rows=summary, hidden_list=("entry", final),
                  back_pairs=[("entry", e) for e in entries]
                  + [("delete", e) for e in entries if e in deleted],
                  action=f"/n/{number}/blocklist/apply", back=f"/n/{number}/blocklist")


@router.post("/n/{num}/blocklist/apply")
async def blocklist_apply(request: Request, num: str) -> Response:
    number = await owned_number(request, num)
    form = await checked_form(request)
    entries = forms.clean_entries(form_list(form, "entry"))
    try:
        await blocklist.replace_blocked(portal_of(request).db, number, entries)
    except (LimitExceeded, InvalidValue):
        return flash.redirect(request, f"/n/{number}/blocklist",
                              errors={"new_number": forms.limit_message()},
                              values={"entry": entries})
    return redirect(f"/n/{number}/done/blocklist")
