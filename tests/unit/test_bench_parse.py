"""bench.load: parsing `core show taskprocessors` (Asterisk 22 has 8 columns) and the
growing-backlog rule."""

from __future__ import annotations

from bench.load import StepResult, TpSample, parse_taskprocessors, queues_growing
from bench.report import summary

OUTPUT = """\
Processor                         Processed   In Queue  Max Depth  Low water High water Low time(us) High time(us)
ast_msg_queue                             0          0          0        450        500          0          0
stasis/m:manager:core-00000006        12345         37        120        450        500          3         90
subm:ast_channel_topic_all-0001        999          5          9        450        500          0          0

96 taskprocessors
"""  # noqa: E501


def test_parse_asterisk22_columns() -> None:
    total, top = parse_taskprocessors(OUTPUT)
    assert total == 42
    assert top[0] == ("stasis/m:manager:core-00000006", 37)


def test_growing_backlog() -> None:
    flat = [TpSample(float(i), 5, []) for i in range(8)]
    growing = [TpSample(float(i), i * 100, []) for i in range(8)]
    assert not queues_growing(flat)
    assert queues_growing(growing)


def _step(mode: str, rate: float, sustained: bool) -> StepResult:
    return StepResult(mode=mode, rate=rate, duration_s=60.0, hold_s=3.0,
                      offered_calls=int(rate * 60), sustained=sustained, capacity_ok=True)


def test_a_repeated_knee_counts_only_if_every_run_held() -> None:
    results = [_step("forward-app", 120, True), _step("forward-app", 160, True),
               _step("forward-app", 190, False), _step("forward-app", 160, True),
               _step("forward-dialplan", 160, True), _step("forward-dialplan", 190, True),
               _step("forward-dialplan", 205, True), _step("forward-dialplan", 205, False)]
    summ = summary(results, None)
    assert summ["sustained_cps"] == {"forward-app": 160, "forward-dialplan": 190}
    assert summ["ratio_app_to_dialplan"] == round(160 / 190, 3)
    assert summ["sustained_runs"]["forward-dialplan"]["205"] == "1/2"
    assert summ["sustained_runs"]["forward-app"] == {"120": "1/1", "160": "2/2", "190": "0/1"}


# ------------------------------------------------------------------ knee bisection

def test_bisection_narrows_the_knee_to_five_percent() -> None:
    from hypothesis import given
    from hypothesis import strategies as st

    from bench.run import KNEE_PRECISION, MAX_BISECTIONS, next_bisection

    @given(st.floats(20, 400))
    def converges(knee: float) -> None:
        # the ladder 120, 160, 190, 220 climbed while sustained, then bisection
        steps: list[tuple[float, bool]] = []
        for rung in (120.0, 160.0, 190.0, 220.0):
            steps.append((rung, rung <= knee))
            if rung > knee:
                break
        for _ in range(MAX_BISECTIONS + 2):
            mid = next_bisection(steps, 120.0)
            if mid is None:
                break
            steps.append((mid, mid <= knee))
        held = [r for r, ok in steps if ok]
        failed = [r for r, ok in steps if not ok]
        if held and failed and max(failed) > max(held):
            best, ceiling = max(held), min(r for r in failed if r > max(held))
            assert best <= knee < ceiling
            if 120.0 <= knee < 220.0:
                assert ceiling - best <= KNEE_PRECISION * best + 1

    converges()


def test_bisection_stops_without_a_failed_rate_above() -> None:
    from bench.run import next_bisection

    assert next_bisection([(120.0, True), (160.0, True)], 120.0) is None
    assert next_bisection([(120.0, False)], 120.0) == 90.0
