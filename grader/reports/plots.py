"""Plots as inline SVG: embedded in the page, drawn by any browser, offline, with no plotting library."""

from __future__ import annotations

from grader.reports.html import esc

GREEN, AMBER, RED, BLUE = "#2da44e", "#d4a72c", "#cf222e", "#0969da"


def _figure(name: str, caption: str, width: int, height: int, marks: list[str]) -> str:
    svg = (
        f"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" "
        f"viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{esc(caption)}\">\n" + "\n".join(marks) + "\n</svg>"
    )
    return f"<figure class=\"plot\" id=\"plot-{esc(name)}\">\n{svg}\n<figcaption>{esc(caption)}</figcaption>\n</figure>"


def columns(name: str, caption: str, bars: list[tuple[str, float]], *, color: str = BLUE) -> str:
    """Vertical bars (a histogram): one ``(label, value)`` per column, its value written above it."""
    width, height, left, bottom, top = max(360, 48 * len(bars) + 40), 240, 30, 36, 20
    step = (width - left - 10) / max(1, len(bars))
    vmax = max([v for _, v in bars] + [1])
    plot_h = height - bottom - top
    marks = [f"<line x1=\"{left}\" y1=\"{height - bottom}\" x2=\"{width - 10}\" y2=\"{height - bottom}\" stroke=\"#888\"/>"]
    for i, (label, value) in enumerate(bars):
        x = left + i * step + 3
        h = plot_h * value / vmax
        y = height - bottom - h
        marks.append(f"<g><title>{esc(label)}: {value:g}</title>")
        marks.append(f"<rect class=\"bar\" x=\"{x:.1f}\" y=\"{y:.1f}\" width=\"{step - 6:.1f}\" height=\"{h:.1f}\" fill=\"{color}\"/>")
        marks.append(f"<text x=\"{x + (step - 6) / 2:.1f}\" y=\"{y - 4:.1f}\" text-anchor=\"middle\">{value:g}</text>")
        marks.append(f"<text x=\"{x + (step - 6) / 2:.1f}\" y=\"{height - bottom + 16}\" text-anchor=\"middle\">{esc(label)}</text></g>")
    return _figure(name, caption, width, height, marks)


def rows(name: str, caption: str, bars: list[tuple[str, list[tuple[float, str]], str]], *, vmax: float) -> str:
    """Horizontal bars, one per ``(label, segments, text)``: stacked ``(value, colour)`` segments, ``text`` after them."""
    label_w = min(320, 12 + 7 * max([len(label) for label, _, _ in bars] + [4]))
    width, row_h, bar_w = label_w + 420, 22, 340
    height = row_h * len(bars) + 10
    marks = []
    for i, (label, segments, text) in enumerate(bars):
        y = 5 + i * row_h
        marks.append(f"<g><title>{esc(label)}: {esc(text)}</title>")
        marks.append(f"<text x=\"{label_w - 8}\" y=\"{y + 15}\" text-anchor=\"end\">{esc(label)}</text>")
        x = float(label_w)
        for value, color in segments:
            w = bar_w * value / vmax if vmax else 0.0
            if w > 0:
                marks.append(f"<rect class=\"bar\" x=\"{x:.1f}\" y=\"{y + 3}\" width=\"{w:.1f}\" height=\"{row_h - 6}\" fill=\"{color}\"/>")
            x += w
        marks.append(f"<text x=\"{x + 6:.1f}\" y=\"{y + 15}\">{esc(text)}</text></g>")
    return _figure(name, caption, width, height, marks)
