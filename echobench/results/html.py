"""One self-contained HTML leaderboard page (DESIGN §7: "Markdown/CSV/HTML views").

The page opens from a file, an e-mail attachment or an air-gapped cluster exactly as written: CSS is
inline, every figure is embedded as a ``data:image/png;base64,`` URI, and there is no external URL
of any kind (no http/https or protocol-relative ``src``/``href``/``url()``, no web font). The one
script is inline vanilla JavaScript (:data:`SCRIPT`, no library): a click on a column heading sorts
that table (numbers by value, then text; again: the other way) and a box above each table filters
its rows by text. A table longer than :data:`OPEN_ROWS` rows starts collapsed (``<details>``), so a
page of 1,000 rows stays readable; without JavaScript every table still shows, unsorted.
Every piece of text — headings, paragraphs, captions, table headers and cells — is HTML-escaped, so
a model or file name such as ``<script>`` shows as text. Tables come from polars DataFrames (the
leaderboard's derived views, STYLE rule 7); the page is written atomically.

A figure file that is missing or not a PNG does not stop the page: the page is still written, with
a visible note in the figure's place naming the file and the problem.
"""

from __future__ import annotations

import base64
import html
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from echobench import __version__
from echobench.atomic import atomic_write_text
from echobench.errors import DataError

if TYPE_CHECKING:
    import polars as pl

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       margin: 2rem auto; max-width: 1200px; padding: 0 1rem; color: #1d1d1f; line-height: 1.45; }
h1 { font-size: 1.6rem; border-bottom: 2px solid #d0d7de; padding-bottom: .3rem; }
h2 { font-size: 1.25rem; margin-top: 2.2rem; border-bottom: 1px solid #d0d7de; }
h3 { font-size: 1rem; margin: 1.2rem 0 .4rem; }
nav ul { padding-left: 1.2rem; }
table { border-collapse: collapse; margin: .4rem 0 1.2rem; font-size: .9rem; }
th, td { border: 1px solid #d0d7de; padding: .25rem .6rem; text-align: left; vertical-align: top; }
th { background: #f3f5f7; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr:nth-child(even) { background: #fafbfc; }
.figures { display: flex; flex-wrap: wrap; gap: 1rem; }
figure { margin: 0; max-width: 580px; }
figure img { max-width: 100%; height: auto; border: 1px solid #e5e8eb; }
figcaption { font-size: .85rem; color: #555; }
.missing { background: #fff4d6; border: 1px solid #c9a227; padding: .5rem; }
.empty { color: #777; font-style: italic; }
footer { margin-top: 3rem; font-size: .8rem; color: #777; }
th { cursor: pointer; }
th[aria-sort=ascending]::after { content: " \\25B2"; }
th[aria-sort=descending]::after { content: " \\25BC"; }
details.board > summary { cursor: pointer; color: #555; font-size: .9rem; }
input.filter { margin: .4rem 0 0; padding: .2rem .4rem; width: 18rem; }
"""

OPEN_ROWS = 30  # a longer table starts collapsed

SCRIPT = """
function cellKey(row, i) {
  var text = row.cells[i] ? row.cells[i].textContent : "", x = parseFloat(text);
  return isNaN(x) ? text : x;
}
document.querySelectorAll("table.board").forEach(function (table) {
  var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  var box = table.parentNode.querySelector("input.filter");
  if (box) box.addEventListener("input", function () {
    var q = box.value.toLowerCase();
    rows.forEach(function (r) { r.hidden = q !== "" && r.textContent.toLowerCase().indexOf(q) < 0; });
  });
  heads.forEach(function (th, i) {
    th.addEventListener("click", function () {
      var up = th.getAttribute("aria-sort") !== "ascending";
      heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", up ? "ascending" : "descending");
      rows.sort(function (a, b) {
        var x = cellKey(a, i), y = cellKey(b, i), nx = typeof x === "number", ny = typeof y === "number";
        if (nx !== ny) return nx ? -1 : 1;  /* numbers before text ("–") either way */
        var c = nx ? x - y : (x < y ? -1 : x > y ? 1 : 0);
        return up ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""


@dataclass(frozen=True)
class Section:
    """One part of the page: a heading, optional text, named tables and captioned figures.

    Attributes:
        heading: section heading (plain text, escaped).
        text: plain-text paragraphs (escaped; a blank line starts a new paragraph).
        tables: ``(caption, DataFrame)`` pairs, rendered in order as HTML tables.
        figures: ``(caption, PNG path)`` pairs, embedded as base64 data URIs.
    """

    heading: str
    text: str = ""
    tables: Sequence[tuple[str, pl.DataFrame]] = ()
    figures: Sequence[tuple[str, Path]] = ()


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _cell(value: Any) -> tuple[str, bool]:
    """Display text of a table cell and whether it is numeric (right-aligned)."""
    if value is None:
        return "—", False
    if isinstance(value, bool):
        return ("yes" if value else "no"), False
    if isinstance(value, int):
        return str(value), True
    if isinstance(value, float):
        if math.isnan(value):
            return "—", True
        return f"{value:.6g}", True
    return str(value), False


_SEP = "\x1f"  # joins a row's cell texts so the row is escaped by one call (html.escape leaves it alone)


def _row(values: Sequence[Any]) -> str:
    """One ``<tr>`` of escaped cells (numeric cells right-aligned); a 1,000-row table is escaped
    row by row, not cell by cell."""
    cells = [_cell(value) for value in values]
    joined = _SEP.join(text for text, _ in cells)
    texts = (_esc(joined).split(_SEP) if joined.count(_SEP) == len(cells) - 1 else [_esc(t) for t, _ in cells])
    return "<tr>" + "".join(f'<td class="num">{text}</td>' if numeric else f"<td>{text}</td>"
                            for text, (_, numeric) in zip(texts, cells)) + "</tr>"


def _table(caption: str, frame: pl.DataFrame) -> str:
    head = "".join(f"<th>{_esc(name)}</th>" for name in frame.columns)
    rows = [_row(row) for row in frame.iter_rows()]
    if not rows:
        rows.append(f'<tr><td class="empty" colspan="{max(len(frame.columns), 1)}">no rows</td></tr>')
    caption_html = f"<h3>{_esc(caption)}</h3>\n" if caption else ""
    count = f"{frame.height:,} row{'s' if frame.height != 1 else ''}"
    return (f'{caption_html}<details class="board"{" open" if frame.height <= OPEN_ROWS else ""}>'
            f"<summary>{count} (click a column heading to sort)</summary>\n"
            '<input type="search" class="filter" placeholder="filter rows (text)" aria-label="filter rows">\n'
            '<table class="board">\n'
            f"<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>\n</details>")


def _figure(caption: str, png: Path) -> str:
    png = Path(png)
    try:
        data = png.read_bytes()
    except OSError as exc:
        return f'<p class="missing">figure {_esc(png)} could not be read ({_esc(exc.strerror or exc)})</p>'
    if not data.startswith(_PNG_SIGNATURE):
        return f'<p class="missing">figure {_esc(png)} is not a PNG file</p>'
    uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    return (f'<figure><img src="{uri}" alt="{_esc(caption or png.name)}">'
            f"<figcaption>{_esc(caption)}</figcaption></figure>")


def _paragraphs(text: str) -> str:
    blocks = [block.strip() for block in text.split("\n\n") if block.strip()]
    return "\n".join("<p>" + _esc(block).replace("\n", "<br>") + "</p>" for block in blocks)


def render_html(*, title: str, sections: Sequence[Section]) -> str:
    """The page as a string (see :func:`write_html`); reads the figure files it embeds."""
    nav = "".join(f'<li><a href="#section-{i}">{_esc(s.heading)}</a></li>' for i, s in enumerate(sections, 1))
    body = []
    for i, section in enumerate(sections, 1):
        parts = [f'<section id="section-{i}">', f"<h2>{_esc(section.heading)}</h2>"]
        if section.text:
            parts.append(_paragraphs(section.text))
        parts.extend(_table(caption, frame) for caption, frame in section.tables)
        if section.figures:
            parts.append('<div class="figures">')
            parts.extend(_figure(caption, png) for caption, png in section.figures)
            parts.append("</div>")
        parts.append("</section>")
        body.append("\n".join(parts))
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{_esc(title)}</h1>",
        f"<nav><ul>{nav}</ul></nav>" if len(sections) > 1 else "",
        *body,
        f"<footer>generated by echobench {_esc(__version__)} from the run records; "
        "do not edit by hand</footer>",
        f"<script>{SCRIPT}</script>",
        "</body>",
        "</html>",
        "",
    ])


def write_html(path: str | os.PathLike, *, title: str, sections: Sequence[Section]) -> Path:
    """Write one self-contained HTML page (inline CSS and sort/filter script, figures as base64 PNG,
    no external URL).

    Args:
        path: the ``.html`` file to write (parent folders created); written atomically.
        title: page title and top heading (escaped).
        sections: the page's parts, in order; with more than one, a table of contents links them.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        DataError: the page cannot be written (names the file). A figure that is missing or not a
            PNG is not an error: a visible note takes its place.
    """
    path = Path(path)
    page = render_html(title=title, sections=sections)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, page)
    except OSError as exc:
        raise DataError(f"{path}: cannot write the HTML page ({exc.strerror or exc})") from None
    return path
