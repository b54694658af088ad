"""Scatter plots of benchmark steps as dependency-free SVG (a browser shows them; no
plotting library in the venv), and the same as PNG (`write`): points per series against the
offered rate, optional horizontal marks (a limit, a target)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from labkit.portal_testkit import CHROMIUM, CHROMIUM_ARGS


@dataclass(frozen=True)
class Series:
    label: str
    color: str
    points: Sequence[tuple[float, float]]


@dataclass(frozen=True)
class Mark:
    label: str
    color: str
    y: float


@dataclass(frozen=True)
class Plot:
    title: str
    x_label: str
    y_label: str
    series: Sequence[Series]
    marks: Sequence[Mark] = field(default_factory=tuple)


W, H, PAD = 640, 380, 56


def svg(plot: Plot) -> str:
    xs = [x for s in plot.series for x, _ in s.points] or [1.0]
    ys = [y for s in plot.series for _, y in s.points] + [m.y for m in plot.marks] or [1.0]
    x_top = max(max(xs), 1e-9) * 1.1
    y_top = max(max(ys), 1e-9) * 1.1

    def px(x: float) -> float:
        return PAD + (W - 2 * PAD) * x / x_top

    def py(y: float) -> float:
        return H - PAD - (H - 2 * PAD) * y / y_top

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}"'
           ' font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{PAD}" y="20" font-size="14">{_esc(plot.title)}</text>',
           f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - PAD}" y2="{H - PAD}" stroke="black"/>',
           f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{H - PAD}" stroke="black"/>',
           f'<text x="{W / 2}" y="{H - 14}" text-anchor="middle">{_esc(plot.x_label)}</text>',
           f'<text x="14" y="{H / 2}" transform="rotate(-90 14 {H / 2})"'
           f' text-anchor="middle">{_esc(plot.y_label)}</text>']
    for i in range(5):  # axis ticks
        xv, yv = x_top * i / 4, y_top * i / 4
        out.append(f'<text x="{px(xv):.1f}" y="{H - PAD + 16}" text-anchor="middle">'
                   f'{xv:.3g}</text>')
        out.append(f'<text x="{PAD - 6}" y="{py(yv) + 4:.1f}" text-anchor="end">{yv:.3g}</text>')
    for m in plot.marks:
        out.append(f'<line x1="{PAD}" y1="{py(m.y):.1f}" x2="{W - PAD}" y2="{py(m.y):.1f}"'
                   f' stroke="{m.color}" stroke-dasharray="4"/>')
        out.append(f'<text x="{W - PAD}" y="{py(m.y) - 4:.1f}" text-anchor="end"'
                   f' fill="{m.color}">{_esc(m.label)}</text>')
    for n, s in enumerate(plot.series):
        out.append(f'<text x="{PAD + 10 + 150 * n}" y="40" fill="{s.color}">● {_esc(s.label)}'
                   '</text>')
        out += [f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="4" fill="{s.color}"/>'
                for x, y in s.points]
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write(plot: Plot, path: Path) -> list[Path]:
    """The plot as `path`.svg and `path`.png (the PNG rendered from the SVG by Debian's
    Chromium through Playwright, both already used by the portal's browser tests); the
    files written. Without a browser only the SVG is written."""
    svg_path = path.with_suffix(".svg")
    svg_path.write_text(svg(plot))
    png_path = path.with_suffix(".png")
    try:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                        headless=True)
            try:
                page = browser.new_page(viewport={"width": W, "height": H})
                page.set_content(f"<body style='margin:0'>{svg(plot)}</body>")
                page.screenshot(path=str(png_path), clip={"x": 0, "y": 0, "width": W,
                                                          "height": H})
            finally:
                browser.close()
    except Exception as exc:  # the SVG is the record, the PNG a convenience: never fail a run
        print(f"plot: no PNG for {svg_path.name} ({exc})")
        return [svg_path]
    return [svg_path, png_path]
