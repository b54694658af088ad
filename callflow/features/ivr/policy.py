"""Which new PINs the PIN-change IVR accepts (pure; the portal may use the same rule)."""

from __future__ import annotations

PIN_DIGITS = 4
_ASCENDING = "01234567890"
_DESCENDING = "09876543210"


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
