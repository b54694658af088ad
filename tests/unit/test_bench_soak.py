"""bench.soak: slopes and the flat-after-warm-up verdict."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bench.soak import SoakResult, SoakSample, judge, slope_per_min


def sample(t: float, asterisk_rss: int, calls: int = 0, db: int = 0) -> SoakSample:
    return SoakSample(t_s=t, asterisk_rss_kb=asterisk_rss, asterisk_fds=50, app_rss_kb=90_000,
                      app_fds=30, app_threads=3, app_tasks=12, live_calls=5,
                      loop_lag_p99_ms=2.0, outbox_depth=0, db_bytes=db, calls_logged=calls)


@given(st.floats(-1000, 1000), st.floats(0, 1e6))
def test_slope_of_a_line_is_its_rate(per_min: float, start: float) -> None:
    points = [(float(t), start + per_min * t / 60) for t in range(0, 600, 10)]
    assert abs(slope_per_min(points) - per_min) < 1e-6 * max(1.0, abs(per_min), start)


def test_growth_during_warm_up_is_not_judged_but_after_it_is() -> None:
    warm = [sample(t, 100_000 + 100 * t) for t in range(0, 300, 10)]  # 6 MB/min while warming
    flat = [sample(300 + t, 130_000 + (t % 20)) for t in range(0, 600, 10)]
    result = SoakResult(samples=warm + flat, calls={"forward": {"ok": 100, "failed": 0}})
    judge(result, warmup_s=300)
    assert result.passed, result.reasons
    leaking = [sample(300 + t, 130_000 + 50 * t) for t in range(0, 600, 10)]  # 3 MB/min
    result = SoakResult(samples=warm + leaking, calls={"forward": {"ok": 100, "failed": 0}})
    judge(result, warmup_s=300)
    assert not result.passed and "asterisk_rss_kb" in result.reasons[0]


def test_failed_calls_fail_the_soak_and_db_growth_is_per_call() -> None:
    samples = [sample(t, 100_000, calls=t * 10, db=t * 10 * 600) for t in range(0, 600, 10)]
    result = SoakResult(samples=samples, calls={"voicemail": {"ok": 10, "failed": 2}})
    judge(result, warmup_s=60)
    assert result.reasons == ["2 failed calls"]
    assert result.db_bytes_per_call == 600.0
