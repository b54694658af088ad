"""The voicemail PIN rule (R-PIN-*): one rule for every place a PIN is set — the PIN-change
IVR (050-3300-5141), the portal page, the JSON API and the operator CLI. Pure.

A PIN is exactly `PIN_DIGITS` ASCII digits, not one digit repeated (1111, 0000) and not a
run up or down (1234, 8765, 7890, 0987), and differs from the current one when that is known.
"""

from __future__ import annotations

PIN_DIGITS = 4
_ASCENDING = "01234567890"
_DESCENDING = "09876543210"

#: problem (the IVR prompt id that announces it) -> the text the portal and the CLI show.
PROBLEM_JA: dict[str, str] = {
    "pin_invalid": f"暗証番号は{PIN_DIGITS}桁の半角数字で入力してください。",
    "pin_same_as_current": "現在の暗証番号と同じです。別の暗証番号を入力してください。",
    "pin_too_simple": ("同じ数字の繰り返し（1111など）や連続した数字（1234など）は、"
                       "暗証番号に設定できません。"),
}


def pin_problem(new_pin: str, current_pin: str | None = None) -> str | None:
    """None if `new_pin` is acceptable, else the prompt id that says why not:
    ``pin_invalid`` (not exactly 4 digits), ``pin_same_as_current``, or ``pin_too_simple``
    (one digit repeated, e.g. 1111, or a run such as 1234 / 8765 / 7890)."""
    if len(new_pin) != PIN_DIGITS or not all("0" <= c <= "9" for c in new_pin):
        return "pin_invalid"
    if current_pin is not None and new_pin == current_pin:
        return "pin_same_as_current"
    if len(set(new_pin)) == 1 or new_pin in _ASCENDING or new_pin in _DESCENDING:
        return "pin_too_simple"
    return None
