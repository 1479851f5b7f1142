"""The frozen-probe track (echobench.probing): features cached once and reused, the grid trained side
by side reaches the uncached frozen run's VAL scores, selection on VAL only, nested label-efficiency
subsets, records, the protocol-sensitivity view, and `echobench robustness RUN_DIR` on a finished run."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from echobench.cli.main import app
from echobench.errors import ConfigError, DataError
from echobench.probing import ProbeConfig, nested_subset, parse_probe_model, probe_model, run_probes
from echobench.results.records import read_records

GRID = dict(backbone="echo-videomae", task="ef", probes=("maxpool", "attentive-1"), lrs=(1e-3,),
            weight_decays=(0.0, 0.05), train_fractions=(0.5, 1.0), samplers=("one", "uniform-2", "beats"),
            epochs=2, batch_size=4, n_boot=0, gpus=0)


class Counter:
    """Counts the calls of the backbone's forward (VideoMAEEncoder.forward)."""

    def __init__(self, monkeypatch):
        from echobench_videomae.encoder import VideoMAEEncoder

        self.calls = 0
        original = VideoMAEEncoder.forward

        def counted(module, *args, **kwargs):
            self.calls += 1
            return original(module, *args, **kwargs)

        monkeypatch.setattr(VideoMAEEncoder, "forward", counted)


@pytest.fixture(scope="module")
def probed(synth_tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("probe")
    cfg = ProbeConfig(data=synth_tiny, results=out / "lb", runs=out / "runs", **GRID)
    with pytest.MonkeyPatch.context() as mp:
        counter = Counter(mp)
        result = run_probes(cfg)
    return cfg, result, counter.calls


def test_second_run_reads_the_cache_and_never_runs_the_backbone(probed, monkeypatch):
    cfg, first, first_calls = probed
    assert first_calls > 0 and set(first.extracted) == {"TRAIN/train", "VAL/one", "TEST/one", "TEST/uniform-2",
                                                        "TEST/beats"}
    assert len(list((cfg.results / "feature-cache").glob("*.safetensors"))) == 5
    counter = Counter(monkeypatch)
    second = run_probes(cfg)
    assert counter.calls == 0 and second.extracted == [] and set(second.reused) == set(first.extracted)
    assert [r["val_score"] for r in second.grid] == [r["val_score"] for r in first.grid]


def test_cache_key_names_everything_that_changes_a_feature(probed):
    """Another encoder (weights, or a random init's seed), protocol, dataset, split, sampler or dtype gets
    another file; the identity is written next to the tensors."""
    from safetensors import safe_open

    from echobench.engine.feature_cache import cache_key

    base = {"backbone": "echo-videomae", "preset": "tiny", "weights": "random init, seed 0", "protocol": "echovisionfm@1",
            "dataset_hash": "abc", "split": "TEST", "sampler": "one", "dtype": "float32", "flips": False}
    keys = {cache_key(base)} | {cache_key({**base, k: v}) for k, v in (
        ("weights", "random init, seed 1"), ("weights", "0123abcd"), ("protocol", "echonet@2"), ("dataset_hash", "abd"),
        ("split", "VAL"), ("sampler", "beats"), ("dtype", "float16"), ("preset", "small"))}
    assert len(keys) == 9 and cache_key(dict(reversed(base.items()))) == cache_key(base)
    cfg, _, _ = probed
    path = next((cfg.results / "feature-cache").glob("*.safetensors"))
    with safe_open(str(path), framework="pt") as fh:
        identity = json.loads(fh.metadata()["identity"])
    assert identity["weights"] == "random init, seed 0" and identity["protocol"] == "echovisionfm@1"


@pytest.fixture(scope="module")
def frozen_run(synth_tiny, tmp_path_factory):
    """Today's uncached frozen run of one grid configuration (attentive probe, lr 1e-3, wd 0.05)."""
    from echobench.runner import RunConfig, run_experiment

    out = tmp_path_factory.mktemp("frozen-run")
    return run_experiment(RunConfig(backbone="echo-videomae", head="attentive-probe", task="ef", data=synth_tiny,
                                    freeze_backbone=True, epochs=2, batch_size=4, lr=1e-3, weight_decay=0.05, n_boot=0,
                                    gpus=0, results=out / "lb", runs=out / "runs"))


def test_cached_probe_reaches_the_uncached_frozen_runs_val_score(probed, frozen_run):
    """Same clips, order, flips, init and seed: `run --freeze-backbone` with the attentive probe at lr 1e-3,
    wd 0.05 gives the VAL MAE of every epoch that the cached grid gives that probe (float tolerance)."""
    _, result, _ = probed
    run = frozen_run
    uncached = json.loads((run.run_dir / "metrics.json").read_text())["val_score_per_epoch"]
    cached = next(r for r in result.grid if (r["probe"], r["lr"], r["weight_decay"], r["fraction"])
                  == ("attentive-1", 1e-3, 0.05, 1.0))["val_score_per_epoch"]
    np.testing.assert_allclose(cached, uncached, rtol=1e-5, atol=1e-4)
    assert run.metrics["VAL"]["MAE"] == pytest.approx(min(cached), rel=1e-5, abs=1e-4)


def test_selection_is_on_val_and_records_every_configuration(probed):
    cfg, result, _ = probed
    records = read_records(cfg.results).filter(pl.col("run_id") == result.run_id)
    assert set(records["track"]) == {"probe@1"}
    assert set(records.filter(pl.col("split") == "TEST")["clips"]) == {"one", "uniform-2", "beats"}
    # the dataset's identity, as every run records it (was null on probe rows)
    assert set(records["trained_on_dataset"]) == set(records["evaluated_on_dataset"]) == {"echonet-dynamic"}
    assert set(records["trained_on_dataset_hash"]) == set(records["dataset_hash"])
    assert records["dataset_version"].null_count() == 0
    for fraction in cfg.train_fractions:
        grid = [r for r in result.grid if r["fraction"] == fraction]
        for kind in cfg.probes:
            chosen = next(s for s in result.selected if s["kind"] == kind and s["fraction"] == fraction)
            assert chosen["val_score"] == min(r["val_score"] for r in grid if r["probe"] == kind)
            config = next(r for r in grid if r["probe"] == kind and r["weight_decay"] == chosen["weight_decay"])
            for split, clips in (("VAL", "one"), ("TEST", "beats")):
                def pick(name, split=split, clips=clips):
                    return records.filter((pl.col("model") == name) & (pl.col("split") == split)
                                          & (pl.col("clips") == clips) & (pl.col("metric") == "MAE"))["value"]

                selected = pick(probe_model(cfg.backbone, kind, fraction))
                assert selected.to_list() == pick(probe_model(cfg.backbone, kind, fraction, lr=config["lr"],
                                                              weight_decay=config["weight_decay"])).to_list()
    models = set(records["model"])
    assert len([m for m in models if (parse_probe_model(m) or {}).get("selected") is False]) == 4 * 2
    assert "constant (TRAIN mean)" in models


def test_label_efficiency_subsets_are_nested_and_fixed():
    small, mid, whole = (nested_subset(1000, f) for f in (0.01, 0.1, 1.0))
    assert len(small) == 10 and len(mid) == 100 and set(small) <= set(mid) <= set(whole)
    assert whole.tolist() == list(range(1000)) and nested_subset(1000, 0.1).tolist() == mid.tolist()


def test_sensitivity_view_in_the_leaderboard(probed):
    from echobench.results.leaderboard import build_leaderboard

    cfg, _, _ = probed
    text = (build_leaderboard(cfg.results, html=True).text)
    assert "## Protocol sensitivity (frozen probes)" in text and "## Track probe@1" in text
    line = next(x for x in text.splitlines() if x.startswith("| echo-videomae (tiny, random init") and "100%" in x)
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[5] == "6"  # 2 probe kinds x 3 samplers
    low, high, spread = float(cells[6].split()[0]), float(cells[7].split()[0]), float(cells[8])
    assert spread == pytest.approx(high - low, abs=0.011)
    assert "Protocol sensitivity" in (cfg.results / "leaderboard.html").read_text()


def test_bad_grid_values_are_one_line_errors(synth_tiny, tmp_path):
    with pytest.raises(ConfigError, match="train-fraction"):
        run_probes(ProbeConfig(data=synth_tiny, results=tmp_path, **{**GRID, "train_fractions": (0.0,)}))
    with pytest.raises(ConfigError, match="clip sampler"):
        run_probes(ProbeConfig(data=synth_tiny, results=tmp_path, **{**GRID, "samplers": ("every",)}))
    result = CliRunner().invoke(app, ["probe", "--backbone", "echo-videomae", "--lr", "fast"])
    assert result.exit_code == 2 and "--lr" in result.output and "Traceback" not in result.output


def test_robustness_of_a_finished_run(frozen_run, tmp_path):
    """`echobench robustness RUN_DIR` writes every perturbation x severity into the run's folder and the
    leaderboard, with the run's provenance, and refuses to score the same run twice."""
    from echobench.evaluation.perturbations import PERTURBATIONS, SEVERITIES

    run_dir = frozen_run.run_dir
    results = run_dir.parent.parent / "lb"
    invoked = CliRunner().invoke(app, ["robustness", str(run_dir), "--results", str(results), "--gpus", "0"])
    assert invoked.exit_code == 0, invoked.output
    rows = read_records(results).filter(pl.col("track") == "robustness@1")
    assert set(rows["run_id"]) == {run_dir.name} and set(rows["config_hash"]) == set(
        read_records(results).filter(pl.col("track").is_null())["config_hash"])
    assert {f"MAE[{p}:{s}]" for p in PERTURBATIONS for s in SEVERITIES} <= set(rows["metric"])
    assert json.loads((run_dir / "robustness.json").read_text())["track"] == "robustness@1"
    assert "robustness: record " in (run_dir / "log.txt").read_text()  # the run's log continued
    again = CliRunner().invoke(app, ["robustness", str(run_dir), "--results", str(results), "--gpus", "0"])
    assert again.exit_code != 0 and "already has robustness records" in again.output
    missing = CliRunner().invoke(app, ["robustness", str(tmp_path), "--results", str(results)])
    assert missing.exit_code != 0 and "not a finished run directory" in missing.output
    with pytest.raises(DataError):
        from echobench.evaluation.robustness_run import score_run_robustness

        score_run_robustness(tmp_path, results=results)


def test_the_constant_rows_carry_no_weights_hash(synth_tiny, tmp_path, monkeypatch):
    """A probe grid on a weights file records the file's sha256 on its probe rows and none on the constant
    predictor's (it uses no weights: RECORD_SCHEMA, the one record writer of every run)."""
    from dataclasses import replace

    from safetensors.torch import save_file

    from echobench.engine.model import build_model
    from echobench.protocols import PROTOCOLS
    from echobench.provenance import file_sha256
    from echobench.registry import get_registry

    monkeypatch.setitem(PROTOCOLS, "echovisionfm", replace(PROTOCOLS["echovisionfm"], size=112))  # as clips_112
    model = build_model(get_registry(), backbone="echo-videomae", head="maxpool", preset="tiny")
    save_file({k: v.contiguous() for k, v in model.backbone.state_dict().items()}, str(tmp_path / "enc.safetensors"))
    cfg = ProbeConfig(data=synth_tiny, results=tmp_path / "lb", runs=tmp_path / "runs",
                      weights=str(tmp_path / "enc.safetensors"),
                      **{**GRID, "probes": ("maxpool",), "weight_decays": (0.0,), "train_fractions": (1.0,),
                         "samplers": ("one",), "epochs": 1})
    run_probes(cfg)
    rows = read_records(tmp_path / "lb")
    constant = rows["model"].str.starts_with("constant")
    assert constant.any() and rows.filter(constant)["weights_sha256"].is_null().all()
    assert set(rows.filter(~constant)["weights_sha256"]) == {file_sha256(tmp_path / "enc.safetensors", 64)}
