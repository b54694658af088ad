"""Why an app-placed call ended the way it did, in the portal's Japanese: pure, no I/O.

``call_requests.reason`` is a stable code written by the worker (``leg1_<result>``,
``dest_<result>``, ``rule_<refusal code>``, ``wrong_code`` ...); the portal shows
:func:`explain` of it on the call status page, the outgoing history and the own-number
list, so a failed call says why (no answer, busy, refused by a rule ...).
"""

from __future__ import annotations

from .rules import MESSAGES as RULE_MESSAGES


def _legs(who: str) -> dict[str, str]:
    """Sentences for a leg to ``who`` that ended without being answered."""
    return {
        "no_answer": f"{who}から応答がありませんでした。",
        "busy": f"{who}が話し中でした。",
        "rejected": f"{who}で着信が拒否されました。",
        "unavailable": f"{who}は、電源が入っていないか電波の届かない場所にあるため、"
                       "つながりませんでした。",
        "failed": f"{who}につながりませんでした。",
        "cancelled": "発信を取りやめました。",
        "not_placed": "発信しませんでした。",
    }


_OWN_PHONE = _legs("お客さまの電話番号")
_DESTINATION = _legs("相手先")

_OTHER: dict[str, str] = {
    "leg1_hung_up": "相手先を呼び出している間に、お客さまの電話が切れました。",
    "not_taken_in_time": (
        "混み合っていたため、発信できませんでした。しばらくたってからお試しください。"
    ),
    "worker_lost": "システムの不具合により、通話が終了しました。",
    "internal_error": "システムの不具合により、発信できませんでした。",
    "unknown_kind": "システムの不具合により、発信できませんでした。",
    "wrong_code": "確認番号が正しく入力されませんでした。",
    "no_input": "確認番号が入力されませんでした。",
    "hung_up": "確認番号が入力される前に、電話が切れました。",
}

RULE = "発信ルールにより発信できません。"
GENERIC = "発信できませんでした。"


def explain(reason: str | None) -> str | None:
    """The Japanese sentence for a finished request's ``reason`` (None: nothing to say)."""
    if reason is None:
        return None
    if reason.startswith("rule_"):
        code = reason.removeprefix("rule_")
        why = RULE_MESSAGES.get(code, "")
        # a cap's message names its limit: shown without the number here
        for cap in ("（1時間あたり{limit}回）", "（1日あたり{limit}回）", "（1日あたり{limit}分）"):
            why = why.replace(cap, "")
        return RULE + why
    if reason in _OTHER:
        return _OTHER[reason]
    for prefix, table in (("leg1_", _OWN_PHONE), ("dest_", _DESTINATION)):
        if reason.startswith(prefix):
            return table.get(reason.removeprefix(prefix), GENERIC)
    return GENERIC
