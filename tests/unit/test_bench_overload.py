"""bench.overload: the verdict of an overload step, and SIPp's refusal counts."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

from bench import plot
from bench.load import StepResult, _received
from bench.overload import goodput_plot, judge


def step(rate: float, goodput: float, refused: int = 0, refused_p99: float | None = None,
         admitted_p99: float = 40.0, failed: int = 0) -> StepResult:
    s = StepResult("overload-app", rate, 60.0, 3.0, int(rate * 60))
    s.goodput_cps, s.refused_calls, s.failed_calls = goodput, refused, failed
    s.refused_latency_ms = {"p99": refused_p99}
    s.latency_ms = {"p50": 10.0, "p99": admitted_p99}
    return s


def test_overloaded_step_passes_with_goodput_and_fast_refusals() -> None:
    assert judge(step(200, 95, refused=6000, refused_p99=20), 100, 2.0, False).passed
    slow = judge(step(200, 95, refused=6000, refused_p99=900), 100, 2.0, False)
    assert not slow.passed and "INVITE→503" in slow.reasons[0]
    collapsed = judge(step(300, 70, refused=13000, refused_p99=20), 100, 3.0, False)
    assert not collapsed.passed and "goodput" in collapsed.reasons[0]
    late = judge(step(300, 95, refused=13000, refused_p99=20, admitted_p99=400), 100, 3.0,
                 False)
    assert not late.passed


def test_recovery_step_must_refuse_nothing() -> None:
    assert judge(step(100, 100), 100, 1.0, True).passed
    still_refusing = judge(step(100, 99.5, refused=3, refused_p99=5), 100, 1.0, True)
    assert not still_refusing.passed
    assert not judge(step(100, 100, failed=1), 100, 1.0, True).passed


def test_refusals_counted_from_sipp_message_counts(tmp_path: Path) -> None:
    (tmp_path / "uac_forward_or_refused_1_counts.csv").write_text(
        "CurrentTime;ElapsedTime;1_INVITE_Sent;3_503_Recv;4_180_Recv\n"
        "t0;1;10;0;0\n"
        "t1;2;100;37;63\n")
    assert _received(tmp_path, 503) == 37
    assert _received(tmp_path, 180) == 63


def test_plot_is_an_svg_with_a_point_per_step_and_a_png(tmp_path: Path) -> None:
    chart = goodput_plot([step(100, 99), step(200, 95, refused=6000),
                          step(300, 93, refused=12000)], 100)
    root = ElementTree.fromstring(plot.svg(chart))
    circles = [e for e in root.iter() if e.tag.endswith("circle")]
    assert len(circles) == 9  # goodput, refused and latency for each step
    written = plot.write(chart, tmp_path / "overload")
    assert [p.name for p in written] == ["overload.svg", "overload.png"]
    png = (tmp_path / "overload.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000  # drawn, not blank


def test_latency_plot_of_a_climb() -> None:
    from bench.run import latency_plot

    steps = [step(r, r) for r in (120.0, 160.0, 175.0)]
    for s, p99 in zip(steps, (40.0, 90.0, 180.0), strict=True):
        s.mode = "forward-app"
        s.latency_ms = {"p50": 10.0, "p99": p99}
    root = ElementTree.fromstring(plot.svg(latency_plot("forward-app", steps)))
    assert len([e for e in root.iter() if e.tag.endswith("circle")]) == 6
    assert "100 ms" in "".join(root.itertext())
