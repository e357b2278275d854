"""A report as a list of blocks, rendered to Markdown and to self-contained HTML.

One structure, two renderers: headings, paragraphs, tables (a DataFrame of display strings)
and figures (a PNG path and a caption). The HTML embeds every figure as a base64 data URI so
the file opens offline and can be mailed on its own.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    text: str  # may contain **bold** and `code`


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    frame: pd.DataFrame  # cells already formatted as strings
    caption: str = ""


@dataclass(frozen=True)
class Figure:
    path: Path  # PNG, relative paths resolved against the report directory
    caption: str


Block = Heading | Paragraph | Bullets | Table | Figure


def _md_table(df: pd.DataFrame) -> str:
    cols = [df.index.name or ""] + [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join(["---"] + ["---:"] * len(df.columns)) + "|"]
    for idx, row in df.iterrows():
        lines.append("| " + " | ".join([str(idx)] + [str(v) for v in row]) + " |")
    return "\n".join(lines)


def to_markdown(blocks: list[Block], base: Path) -> str:
    """Markdown with figures linked relative to ``base`` (the report's directory)."""
    out = []
    for b in blocks:
        if isinstance(b, Heading):
            out.append("#" * b.level + " " + b.text)
        elif isinstance(b, Paragraph):
            out.append(b.text)
        elif isinstance(b, Bullets):
            out.append("\n".join(f"- {item}" for item in b.items))
        elif isinstance(b, Table):
            out.append((f"*{b.caption}*\n\n" if b.caption else "") + _md_table(b.frame))
        elif isinstance(b, Figure):
            rel = b.path.relative_to(base).as_posix()
            out.append(f"![{b.path.stem}]({rel})\n\n*{b.caption}*")
    return "\n\n".join(out) + "\n"


def _inline(text: str) -> str:
    text = html.escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    text = re.sub(r"`(.+?)`", r"<code>\1</code>", text)
    return text


CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1400px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{border-bottom:2px solid #444;padding-bottom:.2em}h2{margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.6em 0 1.4em;font-size:.82em}
th,td{padding:.25em .6em;border-bottom:1px solid #ddd;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}thead th{border-bottom:2px solid #444}
tbody tr:hover{background:#f4f6fa}figure{margin:1em 0 2em}
figure img{max-width:100%;border:1px solid #eee}figcaption{font-size:.9em;color:#444;margin-top:.4em}
code{background:#f2f2f2;padding:0 .25em;border-radius:3px}.caption{font-style:italic;color:#444}
.scroll{overflow-x:auto}
"""


def to_html(blocks: list[Block], title: str) -> str:
    """One self-contained HTML page (figures embedded)."""
    out = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
           f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"]
    for b in blocks:
        if isinstance(b, Heading):
            out.append(f"<h{b.level}>{_inline(b.text)}</h{b.level}>")
        elif isinstance(b, Paragraph):
            out.append(f"<p>{_inline(b.text)}</p>")
        elif isinstance(b, Bullets):
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in b.items) + "</ul>")
        elif isinstance(b, Table):
            if b.caption:
                out.append(f"<p class=\"caption\">{_inline(b.caption)}</p>")
            frame = b.frame.reset_index()
            frame.columns.name = None
            out.append("<div class=\"scroll\">" + frame.to_html(border=0, escape=True, index=False)
                       + "</div>")
        elif isinstance(b, Figure):
            data = base64.b64encode(b.path.read_bytes()).decode()
            out.append(f"<figure><img alt=\"{html.escape(b.path.stem)}\" "
                       f"src=\"data:image/png;base64,{data}\"><figcaption>{_inline(b.caption)}"
                       "</figcaption></figure>")
    out.append("</body></html>\n")
    return "\n".join(out)
