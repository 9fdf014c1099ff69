"""Self-contained HTML pages (feedback, class report): one stylesheet, no scripts, nothing fetched."""

from __future__ import annotations

from html import escape

CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 62rem; margin: 2rem auto; padding: 0 1rem; color: #1d232a; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2rem; border-bottom: 1px solid #dde2e7; } h3 { font-size: 1rem; }
table { border-collapse: collapse; margin: .5rem 0; } td, th { border: 1px solid #dde2e7; padding: .25rem .6rem; text-align: left; vertical-align: top; }
th { background: #f3f5f7; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
code, pre { font: 13px/1.4 ui-monospace, "SFMono-Regular", Menlo, monospace; } pre { white-space: pre-wrap; background: #f6f8fa; padding: .6rem; border-radius: 4px; }
.passed { color: #1a7f37; } .partial { color: #9a6700; } .failed { color: #cf222e; font-weight: 600; }
.note { border-left: 4px solid #9a6700; padding: .2rem .8rem; background: #fff8e5; }
.score { font-size: 1.3rem; font-weight: 700; } figure.plot { margin: 1rem 0; } figcaption { color: #57606a; font-size: .9rem; }
svg text { font: 12px system-ui, sans-serif; fill: #1d232a; }
"""


def esc(text: object) -> str:
    return escape(str(text), quote=True)


def page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def table(header: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    """A table of cells that are already HTML; columns in ``numeric`` are right-aligned."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td class=\"num\">{c}</td>" if i in numeric else f"<td>{c}</td>" for i, c in enumerate(row)) + "</tr>\n"
        for row in rows
    )
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody>\n</table>"
