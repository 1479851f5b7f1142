"""Leaderboard pictures (echobench.results.plots) and the self-contained HTML page (echobench.results.html)."""

from __future__ import annotations

import base64
import math
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from echobench.errors import DataError
from echobench.results import plots
from echobench.results.html import Section, write_html

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path: Path) -> np.ndarray:
    """The file is a non-empty PNG that matplotlib reads back as an RGBA image."""
    from matplotlib.image import imread

    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert image.std() > 0  # something is drawn
    return image


def no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


@pytest.fixture(scope="module")
def ef_data():
    rng = np.random.default_rng(0)
    true = rng.normal(56, 12, 40)
    pred = true + rng.normal(1.0, 4.0, 40)
    return pred, true


@pytest.fixture(scope="module")
def figures(tmp_path_factory, ef_data) -> dict[str, Path]:
    """One PNG of each kind, drawn once for the module."""
    out = tmp_path_factory.mktemp("plots") / "nested"  # parent folder is created
    pred, true = ef_data
    made = {
        "scatter": plots.scatter(pred, true, units="%", title="EF · TEST", path=out / "scatter.png"),
        "bland_altman": plots.bland_altman(pred, true, units="%", title="EF · TEST", path=out / "ba.png"),
        "roc": plots.roc(50 - pred, (true < 50).astype(int), title="EF < 50", path=out / "roc.png"),
        "confusion": plots.confusion((pred < 50).astype(int), (true < 50).astype(int), title="EF < 50",
                                     path=out / "confusion.png"),
    }
    return made


@pytest.mark.parametrize("kind", ["scatter", "bland_altman", "roc", "confusion"])
def test_each_plot_writes_a_readable_png(figures, kind):
    path = figures[kind]
    assert isinstance(path, Path) and path.is_file()
    assert_png(path)
    assert no_temp_files(path.parent)


def test_limits_of_agreement_match_hand_computation():
    pred = np.array([10.0, 12.0, 15.0, 20.0, np.nan])
    true = np.array([11.0, 11.0, 13.0, 18.0, 30.0])  # last pair is left out (non-finite)
    # differences -1, 1, 2, 2: mean 1, sample variance (4 + 0 + 1 + 1) / 3 = 2
    bias, low, high = plots.limits_of_agreement(pred, true)
    assert bias == pytest.approx(1.0)
    assert low == pytest.approx(1.0 - 1.96 * math.sqrt(2.0))
    assert high == pytest.approx(1.0 + 1.96 * math.sqrt(2.0))
    one = plots.limits_of_agreement(np.array([5.0]), np.array([3.0]))
    assert one[0] == 2.0 and math.isnan(one[1]) and math.isnan(one[2])
    assert all(math.isnan(v) for v in plots.limits_of_agreement(np.array([]), np.array([])))


def test_bland_altman_draws_the_computed_limits(tmp_path, monkeypatch, ef_data):
    drawn: list[float] = []
    original = plots._save

    def spy(fig, path):
        for line in fig.axes[0].get_lines():
            ys = np.asarray(line.get_ydata(), dtype=float)
            if len(ys) == 2 and ys[0] == ys[1]:  # horizontal line
                drawn.append(float(ys[0]))
        legend = " ".join(t.get_text() for t in fig.legends[0].get_texts())  # the figure legend, below the axes
        drawn.append(legend)
        return original(fig, path)

    monkeypatch.setattr(plots, "_save", spy)
    pred, true = ef_data
    plots.bland_altman(pred, true, units="mL", title="EDV", path=tmp_path / "ba.png")
    bias, low, high = plots.limits_of_agreement(pred, true)
    *lines, legend = drawn
    assert sorted(lines) == pytest.approx(sorted([bias, low, high, 0.0]))
    for value in (bias, low, high):
        assert f"{value:+.2f} mL" in legend
    assert "N = 40" in legend


def test_scatter_legend_has_n_and_mae(tmp_path, monkeypatch, ef_data):
    seen = {}
    original = plots._save

    def spy(fig, path):
        ax = fig.axes[0]
        seen["legend"] = " ".join(t.get_text() for t in ax.get_legend().get_texts())
        seen["xlabel"], seen["ylabel"] = ax.get_xlabel(), ax.get_ylabel()
        return original(fig, path)

    monkeypatch.setattr(plots, "_save", spy)
    pred, true = ef_data
    plots.scatter(pred, true, units="%", title="EF", path=tmp_path / "s.png")
    mae = float(np.mean(np.abs(pred - true)))
    assert f"N = 40, MAE = {mae:.2f} EF points" in seen["legend"]
    assert seen["xlabel"] == "true EF (%)" and seen["ylabel"] == "predicted EF (%)"


def test_roc_auroc_matches_mann_whitney():
    rng = np.random.default_rng(1)
    label = rng.integers(0, 2, 60)
    score = np.round(label * 0.8 + rng.normal(0, 1, 60), 1)  # rounding makes ties
    pos, neg = score[label == 1], score[label == 0]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    fpr, tpr, auroc = plots.roc_points(score, label)
    assert auroc == pytest.approx(wins / (len(pos) * len(neg)))
    assert fpr[0] == 0 and tpr[-1] == 1 and np.all(np.diff(fpr) >= 0)
    assert math.isnan(plots.roc_points(score, np.ones(60))[2])


def test_confusion_counts_rows_are_true_class():
    counts = plots.confusion_counts(np.array([0, 1, 1, 0, 1]), np.array([0, 1, 0, 1, 1]))
    assert counts.tolist() == [[1, 1], [1, 2]]


@pytest.mark.parametrize("n", [0, 1])
def test_too_few_videos_still_render_with_a_note(tmp_path, monkeypatch, n):
    notes: list[str] = []
    original = plots._note
    monkeypatch.setattr(plots, "_note", lambda ax, text: (notes.append(text), original(ax, text)))
    pred, true = np.full(n, 40.0), np.full(n, 45.0)
    paths = [
        plots.scatter(pred, true, units="%", title="EF", path=tmp_path / "s.png"),
        plots.bland_altman(pred, true, units="%", title="EF", path=tmp_path / "b.png"),
        plots.roc(pred, np.ones(n, dtype=int), title="ROC", path=tmp_path / "r.png"),
        plots.confusion(np.ones(n, dtype=int), np.ones(n, dtype=int), title="CM", path=tmp_path / "c.png"),
    ]
    for path in paths:
        assert_png(path)
    assert len(notes) == 4 and all(f"too few videos to plot (N = {n})" in note for note in notes)


def test_roc_with_one_class_says_auroc_undefined(tmp_path, monkeypatch):
    notes: list[str] = []
    original = plots._note
    monkeypatch.setattr(plots, "_note", lambda ax, text: (notes.append(text), original(ax, text)))
    assert_png(plots.roc(np.linspace(0, 1, 10), np.zeros(10), title="ROC", path=tmp_path / "r.png"))
    assert len(notes) == 1 and "AUROC undefined (one class)" in notes[0]


def test_bad_input_is_a_one_line_error_naming_the_file(tmp_path):
    target = tmp_path / "x.png"
    with pytest.raises(DataError, match=r"x\.png: pred has 3 values but true has 2"):
        plots.scatter(np.zeros(3), np.zeros(2), units="%", title="t", path=target)
    with pytest.raises(DataError, match=r"x\.png: label must be 0 or 1, got 2"):
        plots.roc(np.zeros(3), np.array([0, 1, 2]), title="t", path=target)
    with pytest.raises(DataError, match="must be a 1-D array"):
        plots.bland_altman(np.zeros((2, 2)), np.zeros((2, 2)), units="mL", title="t", path=target)
    assert not target.exists() and no_temp_files(tmp_path)


class _PageParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.urls: list[str] = []
        self.cells: list[str] = []
        self.script_sources: list[str | None] = []
        self._in_td = False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.urls += [value or "" for name, value in attrs if name in ("src", "href", "srcset", "action")]
        if tag == "script":
            self.script_sources.append(dict(attrs).get("src"))
        self._in_td = tag == "td"

    def handle_endtag(self, tag):
        if tag == "td":
            self._in_td = False

    def handle_data(self, data):
        if self._in_td:
            self.cells.append(data)


def test_html_page_is_self_contained_and_escaped(tmp_path, figures):
    table = pl.DataFrame({
        "model": ["<script>alert(1)</script>", "stff & co"],
        "MAE": [4.05, None],
        "seeds": [3, 1],
        "synthetic": [True, False],
    })
    page = write_html(tmp_path / "site" / "leaderboard.html", title="echobench <leaderboard>", sections=[
        Section(heading="EF · TEST", text="Clip protocol: echovisionfm@1.\n\nSee https://example.org",
                tables=[("EF (EF points)", table)],
                figures=[("scatter", figures["scatter"]), ("Bland–Altman", figures["bland_altman"])]),
        Section(heading="EF < 50", figures=[("ROC", figures["roc"]), ("confusion", figures["confusion"]),
                                            ("lost", tmp_path / "missing.png")]),
    ])
    assert page == tmp_path / "site" / "leaderboard.html" and page.stat().st_size > 0
    text = page.read_text(encoding="utf-8")
    assert no_temp_files(page.parent)

    parser = _PageParser()
    parser.feed(text)
    parser.close()
    assert parser.tags.count("script") == 1 and "link" not in parser.tags  # one inline script, no stylesheet link
    assert parser.script_sources == [None]  # inline: no src
    assert "<script>alert(1)</script>" in parser.cells and "&lt;script&gt;" in text
    assert "stff & co" in parser.cells and "4.05" in parser.cells and "—" in parser.cells
    for url in parser.urls:
        assert not url.lower().startswith(("http:", "https:", "//")), url
    for url in re.findall(r"url\(\s*['\"]?([^'\")]*)", text):
        assert not url.lower().startswith(("http:", "https:", "//")), url
    assert "@import" not in text and "@font-face" not in text

    embedded = [u for u in parser.urls if u.startswith("data:image/png;base64,")]
    assert len(embedded) == 4 == text.count("data:image/png;base64,")
    decoded = {base64.b64decode(u.split(",", 1)[1]) for u in embedded}
    assert decoded == {figures[k].read_bytes() for k in ("scatter", "bland_altman", "roc", "confusion")}
    assert "missing.png could not be read" in text  # the page still got written


def test_drawing_every_leaderboard_figure_does_not_import_torch(tmp_path):
    """`echobench leaderboard` needs no torch: every figure's numbers come from numpy."""
    import subprocess
    import sys

    probe = ("import sys, numpy as np\nfrom echobench.results import plots\n"
             "p, t = np.linspace(20, 70, 30), np.linspace(25, 68, 30)\n"
             f"out = {str(tmp_path)!r}\n"
             "plots.scatter(p, t, units='%', title='x', path=out + '/s.png')\n"
             "plots.bland_altman(p, t, units='%', title='x', path=out + '/b.png')\n"
             "plots.roc(p, (t < 50).astype(int), title='x', path=out + '/r.png')\n"
             "plots.confusion((p < 50).astype(int), (t < 50).astype(int), title='x', path=out + '/c.png')\n"
             "from echobench.results.track_plots import reliability_diagram\n"
             "reliability_diagram(p / 100, (t < 50).astype(int), title='x', path=out + '/rel.png')\n"
             "from echobench.evaluation.tracks import MIN_N  # what the strata table reads\n"
             "from echobench.results.leaderboard import build_leaderboard\nbuild_leaderboard(out + '/lb')\n"
             "print('torch' in sys.modules, 'torchmetrics' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False"]


def test_bland_altman_legend_covers_no_line_and_long_titles_fit(tmp_path, monkeypatch, ef_data):
    seen = {}
    original = plots._save

    def spy(fig, path):
        fig.canvas.draw()
        ax = fig.axes[0]
        seen["legend"] = [legend.get_window_extent() for legend in fig.legends + ([ax.get_legend()] if ax.get_legend() else [])]
        seen["axes"], seen["title"], seen["figure"] = ax.get_window_extent(), ax.title.get_window_extent(), fig.bbox
        return original(fig, path)

    monkeypatch.setattr(plots, "_save", spy)
    pred, true = ef_data
    title = "Bland–Altman · echo-videomae+maxpool (tiny, random init, 32-true) · ef · TEST"
    plots.bland_altman(pred, true, units="%", title=title, path=tmp_path / "b.png")
    (legend,) = seen["legend"]
    assert legend.y1 <= seen["axes"].y0  # below the axes: neither limit line is covered
    assert seen["figure"].x0 <= seen["title"].x0 and seen["title"].x1 <= seen["figure"].x1  # not clipped
