"""Protocol-sensitivity view: how much of an encoder's TEST score is protocol (issue 16 item 6).

Derived from the frozen-probe records (track :data:`~echobench.evaluation.tracks.PROBE`): for one
encoder (backbone, preset, weights) on one task, protocol, dataset and TRAIN fraction, every probe
kind's VAL-selected configuration scored on TEST under every clip sampler (``one``, ``uniform-K``,
``all``, ``beats``) is one cell; the view gives the spread of the primary metric (MAE, or AUROC for
binary tasks) over those probes x samplers -- lowest, highest, their difference and the sd -- and the
cells themselves as a probes x samplers matrix. A reader sees how far a ranking could move by the
choice of probe and test clips alone (one VideoMAE-L model moved from 8.52 to 6.59 EF MAE between
two probe runs of its own authors).
"""

from __future__ import annotations

import math

import polars as pl

from echobench.evaluation.tracks import PROBE

ENCODER = ["task", "task_version", "protocol", "protocol_version", "dataset", "dataset_hash", "synthetic",
           "backbone", "preset", "weights"]
PRIMARY = {"MAE": True, "AUROC": False}  # metric -> lower is better
WHAT = ("Spread of the TEST primary metric over probe kinds x test clip samplers, each probe's learning rate and "
        "weight decay selected on VAL (frozen backbone, features cached): how much of a ranking is protocol. "
        "Spread = highest - lowest; cells are means over seeds.")


def _sampler_order(name: str) -> tuple[int, str]:
    """one, uniform-K (by K), all, beats, then any other."""
    if name.startswith("uniform-") and name[8:].isdigit():
        return 1, f"{int(name[8:]):06d}"
    return {"one": 0, "all": 2, "beats": 3}.get(name, 4), name


def _cells(summary: pl.DataFrame) -> pl.DataFrame:
    """Per (encoder, fraction, probe, clips): the primary metric of the VAL-selected probe on TEST."""
    from echobench.probing import ANY_PROBE, parse_probe_model

    if "track" not in summary.columns:
        return pl.DataFrame()
    rows = summary.filter((pl.col("track") == PROBE.tag) & (pl.col("split") == "TEST")
                          & pl.col("metric").is_in(list(PRIMARY)) & (pl.col("source") == "run"))
    kept = []
    for r in rows.iter_rows(named=True):
        parsed = parse_probe_model(r["model"])
        if parsed and parsed["selected"] and parsed["probe"] != ANY_PROBE and r["task"] == r["trained_on"]:
            kept.append({**{k: r[k] for k in ENCODER}, "fraction": parsed["fraction"], "probe": parsed["probe"],
                         "clips": r["clips"], "metric": r["metric"], "value": r["mean"]})
    return pl.DataFrame(kept) if kept else pl.DataFrame()


def sensitivity_tables(summary: pl.DataFrame) -> list[tuple[str, list[str], list[dict]]]:
    """``(title, columns, rows)``: first the spread per encoder, then each encoder's probes x samplers matrix."""
    cells = _cells(summary)
    if cells.is_empty():
        return []
    spread_cols = ["encoder", "task", "protocol", "TRAIN", "metric", "cells", "lowest (probe · clips)",
                   "highest (probe · clips)", "spread", "sd"]
    spread, matrices = [], []
    for key, group in cells.group_by([*ENCODER, "fraction", "metric"], maintain_order=True):
        k = dict(zip([*ENCODER, "fraction", "metric"], key))
        values = group.sort("value", descending=not PRIMARY[k["metric"]])
        best, worst = values.row(0, named=True), values.row(-1, named=True)
        v = values["value"].to_list()
        sd = float(pl.Series(v).std()) if len(v) > 1 else math.nan
        encoder = f"{k['backbone']} ({k['preset']}, {k['weights']})"
        data = f"{k['dataset']} ({k['dataset_hash'][:8]}{', SYNTHETIC data' if k['synthetic'] else ''})"
        spread.append(dict(zip(spread_cols, [
            encoder, f"{k['task']}@{k['task_version']}", f"{k['protocol']}@{k['protocol_version']} · {data}",
            f"{k['fraction'] * 100:g}%", k["metric"], str(len(v)),
            f"{best['value']:.2f} ({best['probe']} · {best['clips']})", f"{worst['value']:.2f} ({worst['probe']} · {worst['clips']})",
            f"{abs(worst['value'] - best['value']):.2f}", "–" if math.isnan(sd) else f"{sd:.2f}"])))
        samplers = sorted(dict.fromkeys(group["clips"].to_list()), key=_sampler_order)
        columns = ["probe", *samplers]
        shown = []
        for probe in dict.fromkeys(group["probe"].to_list()):
            mine = {r["clips"]: r["value"] for r in group.filter(pl.col("probe") == probe).iter_rows(named=True)}
            shown.append(dict(zip(columns, [probe, *(f"{mine[s]:.2f}" if s in mine else "–" for s in samplers)])))
        matrices.append((f"{encoder} · {k['task']} · TRAIN {k['fraction'] * 100:g}% · TEST {k['metric']} "
                         f"by probe x clip sampler", columns, shown))
    return [("spread per encoder", spread_cols, spread), *matrices]


def sensitivity_markdown(summary: pl.DataFrame) -> str:
    """``## Protocol sensitivity`` with its tables ("" without probe records)."""
    from echobench.results.leaderboard import markdown_section

    return markdown_section("Protocol sensitivity (frozen probes)", WHAT, sensitivity_tables(summary))


def sensitivity_sections(summary: pl.DataFrame) -> list:
    """The same as :class:`echobench.results.html.Section` s for the HTML page."""
    from echobench.results.html import Section

    return [Section(heading=f"Protocol sensitivity · {title}", text=WHAT if i == 0 else "",
                    tables=[("", pl.DataFrame(rows, schema=dict.fromkeys(columns, pl.Utf8)))], figures=[])
            for i, (title, columns, rows) in enumerate(sensitivity_tables(summary))]
