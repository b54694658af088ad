"""The app's one clock: the shift ANSHIN_CLOCK_OFFSET_S gives it, and that no call-control
module reads wall time beside it (time decisions and times a subscriber sees take
``Services.clock`` or a ``Clock``/``now`` parameter)."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

from callflow.clock import FixedClock, SystemClock

CALLFLOW = Path(__file__).resolve().parents[2] / "callflow"

#: wall-time reads allowed outside the clock: the synthetic StasisStart of an adopted
#: channel carries a timestamp like Asterisk's own events (wall time, read by the metrics)
ALLOWED = {("ari/dispatch.py", "datetime.now")}


def test_system_clock_is_aware_utc_and_shifted_by_its_offset() -> None:
    before = datetime.now(UTC)
    shifted = SystemClock(offset_s=2 * 86400 + 30).now()
    after = datetime.now(UTC)
    assert shifted.utcoffset() == timedelta(0)
    offset = timedelta(days=2, seconds=30)
    assert before + offset <= shifted <= after + offset
    assert before <= SystemClock().now() <= datetime.now(UTC)


def test_fixed_clock_moves_only_when_told() -> None:
    at = datetime(2026, 11, 29, 15, 0, tzinfo=UTC)
    clock = FixedClock(at)
    assert clock.now() == clock.now() == at
    clock.advance(timedelta(minutes=15))
    assert clock.now() == at + timedelta(minutes=15)


def _wall_time_reads(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            name = owner.id if isinstance(owner, ast.Name) else (
                owner.attr if isinstance(owner, ast.Attribute) else "")
            call = f"{name}.{node.func.attr}"
            if call in ("datetime.now", "datetime.utcnow", "datetime.today", "date.today"):
                found.append(call)
    return found


def test_no_module_reads_wall_time_beside_the_clock() -> None:
    offenders = []
    for path in sorted(CALLFLOW.rglob("*.py")):
        rel = path.relative_to(CALLFLOW).as_posix()
        if rel == "clock.py":
            continue
        for call in _wall_time_reads(ast.parse(path.read_text(encoding="utf-8"))):
            if (rel, call) not in ALLOWED:
                offenders.append(f"{rel}: {call}()")
    assert offenders == [], "use Services.clock (or a Clock parameter) instead"
