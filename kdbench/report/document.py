"""A report as a list of blocks, rendered to Markdown and to self-contained HTML.

One structure, two renderers: headings, paragraphs, tables (a DataFrame of display strings)
and figures (a PNG path and a caption). Both renderers open with a table of contents (the
level-2 headings, linked by their anchors) and number the figures in order ("Figure 3."),
caption under the image; a figure without a caption is an error. The HTML embeds every figure
as a base64 data URI and carries its own few lines of script and style, so the file opens
offline and can be mailed on its own: clicking a table header sorts its rows (numerically when
the cells start with a number, so "0.95 ± 0.01" and "−0.02 [−0.04, 0.00]" sort by value; "—"
last), clicking again reverses.
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
    kind: str = ""  # a CSS class in HTML (e.g. "setting", "note"); nothing in Markdown


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    frame: pd.DataFrame  # cells already formatted as strings
    caption: str = ""
    # optional header row above the column names: (label, number of columns) left to right,
    # the index columns first; Markdown prefixes each column name with its group instead
    groups: tuple[tuple[str, int], ...] = ()
    sortable: bool = True
    kind: str = ""  # a CSS class of the table in HTML


@dataclass(frozen=True)
class Contents:
    """Where the contents list goes (default: right after the title)."""


@dataclass(frozen=True)
class Figure:
    path: Path  # PNG, relative paths resolved against the report directory
    caption: str

    def __post_init__(self) -> None:
        if not self.caption.strip():
            raise ValueError(f"figure {self.path.name} needs a caption (found an empty one)")


Block = Heading | Paragraph | Bullets | Table | Figure | Contents


def _grouped_names(t: Table) -> list[str]:
    """Column names (index first) prefixed by their group of ``t.groups``, for Markdown."""
    names = [t.frame.index.name or ""] + [str(c) for c in t.frame.columns]
    if not t.groups:
        return names
    labels = [g for g, n in t.groups for _ in range(n)]
    return [f"{g} {c}".strip() if g else c for g, c in zip(labels, names)] + names[len(labels):]


def _md_table(df: pd.DataFrame, names: list[str] | None = None) -> str:
    cols = names or [df.index.name or ""] + [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join(["---"] + ["---:"] * len(df.columns)) + "|"]
    for idx, row in df.iterrows():
        lines.append("| " + " | ".join([str(idx)] + [str(v) for v in row]) + " |")
    return "\n".join(lines)


def slug(text: str) -> str:
    """The anchor of a heading, as GitHub makes it: lower case, punctuation dropped, spaces to
    hyphens (``"OOD detection"`` -> ``ood-detection``)."""
    text = re.sub(r"[^\w\- ]", "", text.lower().replace("`", ""))
    return text.strip().replace(" ", "-")


def _contents(blocks: list[Block]) -> list[tuple[str, str]]:
    """(text, anchor) of every level-2 heading, anchors made unique in order."""
    seen: dict[str, int] = {}
    out = []
    for b in blocks:
        if isinstance(b, Heading) and b.level == 2:
            a = slug(b.text)
            n = seen.get(a, 0)
            seen[a] = n + 1
            out.append((b.text, a if n == 0 else f"{a}-{n}"))
    return out


def _first_section(blocks: list[Block]) -> int:
    """Where the contents go: at a `Contents` block, else right after the title (the first
    level-1 heading), else first."""
    at = next((i for i, b in enumerate(blocks) if isinstance(b, Contents)), None)
    if at is not None:
        return at
    return next((i + 1 for i, b in enumerate(blocks) if isinstance(b, Heading) and b.level == 1), 0)


def to_markdown(blocks: list[Block], base: Path) -> str:
    """Markdown with a contents list and figures linked relative to ``base`` (the report's
    directory), numbered, caption beneath."""
    out = []
    toc = _contents(blocks)
    first = _first_section(blocks)
    number = 0
    for i, b in enumerate(blocks):
        if i == first and toc:
            out.append("**Contents**\n\n" + "\n".join(f"- [{_plain(t)}](#{a})" for t, a in toc))
        if isinstance(b, Heading):
            out.append("#" * b.level + " " + b.text)
        elif isinstance(b, Paragraph):
            out.append(b.text)
        elif isinstance(b, Bullets):
            out.append("\n".join(f"- {item}" for item in b.items))
        elif isinstance(b, Table):
            out.append((f"*{b.caption}*\n\n" if b.caption else "")
                       + _md_table(b.frame, _grouped_names(b)))
        elif isinstance(b, Figure):
            number += 1
            rel = b.path.relative_to(base).as_posix()
            out.append(f"![{b.path.stem}]({rel})\n\n*Figure {number}. {b.caption}*")
    return "\n\n".join(out) + "\n"


def _plain(text: str) -> str:
    return text.replace("`", "")


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
figure img{max-width:100%;height:auto;border:1px solid #eee}figcaption{font-size:.9em;color:#444;margin-top:.4em}
code{background:#f2f2f2;padding:0 .25em;border-radius:3px}.caption{font-style:italic;color:#444}
.scroll{overflow-x:auto}nav.toc{background:#f7f7f9;border:1px solid #ddd;padding:.4em 1.2em;
display:inline-block}nav.toc ol{margin:.3em 0;padding-left:1.4em}
th.sortable{cursor:pointer}th.sortable:after{content:" \\2195";color:#aaa;font-size:.8em}
figcaption .num{font-weight:bold}
h1{margin:.2em 0 .3em}p.setting{margin:.1em 0;font-size:.86em;line-height:1.3}
p.setting+h2{margin-top:.5em}table.answer{font-size:.78em;margin:.3em 0 .4em}
table.answer th,table.answer td{padding:.18em .42em}table.answer th.group{text-align:center;
border-bottom:1px solid #999}table.answer tbody td:nth-child(4n),
table.answer thead tr:last-child th:nth-child(4n){border-left:1px solid #bbb}p.note{font-size:.82em;color:#444;margin:.2em 0 .6em}
"""

# sort a table by the clicked header: numbers by value (U+2212 minus, "0.95 ± 0.01" -> 0.95),
# text alphabetically, "—" (missing) last; a second click reverses
SCRIPT = """
function kdNum(t){t=t.trim().replace(/\\u2212/g,'-');var m=t.match(/^[-+]?\\d*\\.?\\d+(e[-+]?\\d+)?/i);
return m?parseFloat(m[0]):null}
document.querySelectorAll('table.sortable').forEach(function(tb){
var hr=tb.tHead.rows[tb.tHead.rows.length-1];Array.from(hr.cells).forEach(function(th,i){th.classList.add('sortable');
th.addEventListener('click',function(){var body=tb.tBodies[0],rows=Array.from(body.rows),
dir=th.dataset.dir==='asc'?-1:1;th.dataset.dir=dir>0?'asc':'desc';
rows.sort(function(a,b){var x=a.cells[i].textContent,y=b.cells[i].textContent,
nx=kdNum(x),ny=kdNum(y),mx=x.trim()==='\u2014',my=y.trim()==='\u2014';
if(mx||my)return mx-my;if(nx!==null&&ny!==null)return dir*(nx-ny);
return dir*x.localeCompare(y)});rows.forEach(function(r){body.appendChild(r)})})})});
"""


def _html_table(t: Table) -> str:
    """A table in a scrolling div; ``t.groups`` as a header row of spanning cells above the
    column names."""
    frame = t.frame.reset_index()
    frame.columns.name = None
    classes = " ".join(c for c in ("sortable" if t.sortable else "", t.kind) if c)
    text = frame.to_html(border=0, escape=True, index=False, classes=classes or None)
    if t.groups:
        cells = "".join(f"<th colspan=\"{n}\" class=\"group\">{html.escape(g)}</th>"
                        if n > 1 else f"<th class=\"group\">{html.escape(g)}</th>"
                        for g, n in t.groups)
        text = text.replace("<thead>\n", f"<thead>\n    <tr>{cells}</tr>\n", 1)
    return f"<div class=\"scroll\">{text}</div>"


def to_html(blocks: list[Block], title: str) -> str:
    """One self-contained HTML page (figures embedded): contents, sortable tables, numbered
    figures with their captions beneath."""
    out = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
           f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"]
    toc = _contents(blocks)
    anchors = iter(a for _, a in toc)
    first = _first_section(blocks)
    number = 0
    for i, b in enumerate(blocks):
        if i == first and toc:
            out.append("<nav class=\"toc\" id=\"contents\"><strong>Contents</strong><ol>"
                       + "".join(f"<li><a href=\"#{a}\">{_inline(t)}</a></li>" for t, a in toc)
                       + "</ol></nav>")
        if isinstance(b, Heading) and b.level == 2:
            out.append(f"<h2 id=\"{next(anchors)}\">{_inline(b.text)}</h2>")
        elif isinstance(b, Heading):
            out.append(f"<h{b.level}>{_inline(b.text)}</h{b.level}>")
        elif isinstance(b, Paragraph):
            cls = f" class=\"{b.kind}\"" if b.kind else ""
            out.append(f"<p{cls}>{_inline(b.text)}</p>")
        elif isinstance(b, Bullets):
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in b.items) + "</ul>")
        elif isinstance(b, Table):
            if b.caption:
                out.append(f"<p class=\"caption\">{_inline(b.caption)}</p>")
            out.append(_html_table(b))
        elif isinstance(b, Figure):
            number += 1
            data = base64.b64encode(b.path.read_bytes()).decode()
            out.append(f"<figure id=\"figure-{number}\"><img alt=\"{html.escape(b.path.stem)}\" "
                       f"src=\"data:image/png;base64,{data}\"><figcaption><span class=\"num\">"
                       f"Figure {number}.</span> {_inline(b.caption)}</figcaption></figure>")
    out.append(f"<script>{SCRIPT}</script></body></html>\n")
    return "\n".join(out)
