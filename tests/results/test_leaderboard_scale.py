"""The leaderboard at scale (issue 15 item 7): records read once through the index, figures drawn
once per run and only for the top models of a group, and a self-contained page whose tables sort and
filter in the browser and collapse when long. Headless Chromium is not available here: the page's
structure is tested, and its script is run under Node.js against a minimal stand-in DOM when Node is
installed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from echobench.results.html import OPEN_ROWS, SCRIPT
from echobench.results.leaderboard import build_leaderboard, markdown, summarize
from echobench.results.records import RECORD_SCHEMA, read_records, write_record


def _run(results: Path, k: int, *, mae: float, predictions: bool = False) -> None:
    """One EF run record (model and constant, TEST MAE) through the real writer; with ``predictions``,
    its run directory holds a predictions.parquet for the pictures."""
    run_dir = results / "runs" / f"r{k:03d}"
    if predictions:
        run_dir.mkdir(parents=True)
        truth = np.linspace(20, 75, 12)
        pl.DataFrame({"FileName": [f"v{i}" for i in range(12)], "split": ["TEST"] * 12, "clips": ["one"] * 12,
                      "prediction": truth + (k % 3), "truth": truth}).write_parquet(run_dir / "predictions.parquet")
    rows = []
    for model, value in (("m+h", mae), ("constant (TRAIN mean)", 12.0)):
        row = {c: None for c in RECORD_SCHEMA}
        row.update(run_id=f"r{k:03d}", source="run", model=model, backbone="m", head="h", preset="tiny",
                   weights="random init", precision="32-true", trained_on="ef", task="ef", task_version="1",
                   protocol="echovisionfm", protocol_version="1", split="TEST", clips="one", metric="MAE",
                   value=value, ci_low=value - 0.5, ci_high=value + 0.5, units="%", n=12, dataset="d",
                   dataset_hash="abc", synthetic=True, seed=0, setup_hash=f"S{k:03d}", config_hash=f"C{k:03d}",
                   run_dir=str(run_dir))
        if model.startswith("constant"):  # as the runner writes it: the constant depends on the data only
            row.update(backbone="-", head="-", preset="-", weights="-", precision="-", setup_hash="-")
        rows.append(row)
    write_record(rows, results, f"r{k:03d}")


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack: list[tuple[str, dict]] = []
        self.tables: list[dict] = []  # per table: enclosing <details> attributes, whether a filter box precedes
        self.scripts: list[dict] = []
        self.urls: list[str] = []
        self._filter = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.urls += [v or "" for k, v in attrs.items() if k in ("src", "href", "srcset", "action")]
        if tag == "script":
            self.scripts.append(attrs)
        if tag == "input" and attrs.get("class") == "filter":
            self._filter = True
        if tag == "table":
            details = next((a for t, a in reversed(self.stack) if t == "details"), None)
            self.tables.append({"details": details, "filter": self._filter, "class": attrs.get("class")})
            self._filter = False
        if tag not in ("input", "img", "meta", "br"):
            self.stack.append((tag, attrs))

    def handle_endtag(self, tag):
        while self.stack and self.stack.pop()[0] != tag:
            pass


def test_page_is_self_contained_sortable_filterable_and_long_tables_collapse(tmp_path):
    for k in range(OPEN_ROWS + 2):  # one group longer than OPEN_ROWS (without pictures: no run directory)
        _run(tmp_path, k, mae=4.0 + 0.1 * k)
    board = build_leaderboard(tmp_path)
    text = (tmp_path / "leaderboard.html").read_text(encoding="utf-8")
    page = _Page()
    page.feed(text)
    assert board.figures == 0
    assert page.scripts == [{}]  # exactly one script, inline (no src)
    assert 'addEventListener("click"' in text and 'addEventListener("input"' in text and SCRIPT in text
    for url in page.urls:
        assert not url.lower().startswith(("http:", "https:", "//")), url
    assert page.tables and all(t["class"] == "board" and t["filter"] and t["details"] is not None for t in page.tables)
    measured = [t for t in page.tables if "open" not in t["details"]]
    assert len(measured) == 1  # the one long group starts collapsed; the short (published) ones are open
    assert f"{OPEN_ROWS + 3} rows (click a column heading to sort)" in text  # 32 models + the constant


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed (the script is not run)")
def test_the_page_script_sorts_numbers_before_dashes_and_filters_by_text():
    stand_in = """
    function el(text) { return {textContent: text, hidden: false}; }
    function row(cells) { return {cells: cells.map(el), hidden: false, get textContent() {
      return this.cells.map(function (c) { return c.textContent; }).join(" "); }}; }
    var handlers = {}, heads = [0, 1].map(function (i) { return {attrs: {}, addEventListener: function (k, f) {
      handlers[k + i] = f; }, getAttribute: function (n) { return this.attrs[n] || null; },
      setAttribute: function (n, v) { this.attrs[n] = v; }, removeAttribute: function (n) { delete this.attrs[n]; }}; });
    var body = {rows: [row(["b", "4.50 [4.0, 5.0]"]), row(["a", "–"]), row(["c", "10.1 ± 0.2"]), row(["d", "3.9"])],
      appendChild: function (r) { this.rows.splice(this.rows.indexOf(r), 1); this.rows.push(r); }};
    var box = {value: "", addEventListener: function (k, f) { handlers[k] = f; }};
    var table = {tBodies: [body], tHead: {rows: [{cells: heads}]}, parentNode: {querySelector: function () { return box; }}};
    var document = {querySelectorAll: function () { return [table]; }};
    """ + SCRIPT + """
    var names = function () { return body.rows.map(function (r) { return r.cells[0].textContent; }).join(""); };
    handlers.click1(); var up = names(); handlers.click1(); var down = names();
    box.value = "C"; handlers.input();
    var shown = body.rows.filter(function (r) { return !r.hidden; }).map(function (r) { return r.cells[0].textContent; });
    console.log(JSON.stringify([up, down, shown, heads[1].attrs["aria-sort"]]));
    """
    done = subprocess.run(["node", "-e", stand_in], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    up, down, shown, sort = json.loads(done.stdout)
    assert up == "dbca" and down == "cbda"  # by value (3.9 < 4.50 < 10.1), the dash last both ways
    assert shown == ["c"] and sort == "descending"


def test_figures_are_drawn_once_per_run_and_only_for_the_top_models(tmp_path, monkeypatch):
    from echobench.results import page, plots

    for k in (2, 0, 1):
        _run(tmp_path, k, mae=4.0 + k, predictions=True)
    monkeypatch.setattr(page, "FIGURES_PER_GROUP", 1)
    first = build_leaderboard(tmp_path)
    pngs = sorted(p.name for p in (tmp_path / "figures").glob("*.png"))
    assert first.figures == 2 == len(pngs)  # 1 model x (scatter, Bland-Altman)
    assert all("-r000-" in p for p in pngs)  # the best one (MAE 4)

    def no_drawing(*args, **kwargs):
        raise AssertionError("a cached figure was drawn again")

    for name in ("scatter", "bland_altman"):
        monkeypatch.setattr(plots, name, no_drawing)
    _run(tmp_path, 9, mae=9.0)  # a new, worse run: the top one keeps its pictures
    second = build_leaderboard(tmp_path)
    assert second.figures == 2 and second.removed == 0
    assert sorted(p.name for p in (tmp_path / "figures").glob("*.png")) == pngs


def test_records_are_read_through_the_index_new_files_only(tmp_path, monkeypatch):
    from echobench.results import record_index

    for k in range(3):
        _run(tmp_path, k, mae=4.0)
    (tmp_path / "records" / "broken.parquet").write_bytes(b"not parquet")
    skips: list[tuple[str, str]] = []
    first = read_records(tmp_path, on_skip=lambda p, r: skips.append((p.name, r)))
    assert first["run_id"].n_unique() == 3 and [s[0] for s in skips] == ["broken.parquet"]

    read: list[list[str]] = []
    original = record_index.read_parquet_files

    def spy(files, *args, **kwargs):
        read.append([Path(f).name for f in files])
        return original(files, *args, **kwargs)

    monkeypatch.setattr(record_index, "read_parquet_files", spy)
    _run(tmp_path, 3, mae=5.0)
    (tmp_path / "records" / "r000.parquet").unlink()
    again: list[tuple[str, str]] = []
    second = read_records(tmp_path, on_skip=lambda p, r: again.append((p.name, r)))
    assert read == [["r003.parquet"]]  # only the new record is read
    assert again == skips  # the known bad file is still reported, with its reason
    assert sorted(second["run_id"].unique()) == ["r001", "r002", "r003"]  # the deleted record's rows are gone

    (tmp_path / ".cache" / "records-index.json").write_text("{garbage")  # a broken index is rebuilt
    third = read_records(tmp_path, on_skip=lambda p, r: None)
    assert third.sort("run_id", "model").equals(second.sort("run_id", "model"))
    assert read[-1] == sorted(p.name for p in (tmp_path / "records").glob("*.parquet"))


def test_the_default_view_is_the_whole_boards_test_rows(tmp_path):
    """The view is cut from the one summary of every split, exactly as summarizing TEST alone gives it."""
    for k in range(3):
        _run(tmp_path, k, mae=4.0 + k)
    records = read_records(tmp_path).with_columns(pl.lit("VAL").alias("split"))
    write_record(records.with_columns(pl.lit("val-copy").alias("run_id")).to_dicts(), tmp_path, "val-copy")
    board = build_leaderboard(tmp_path)
    assert board.text == markdown(summarize(read_records(tmp_path), split="TEST"))
    assert "split VAL" in (tmp_path / "leaderboard.md").read_text() and not re.search(r"split VAL · one clip", board.text)
