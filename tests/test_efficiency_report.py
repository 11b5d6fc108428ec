"""lgclip_core.efficiency (measuring helpers) and lgclip_core.book.report (the reproduction report's tables)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from lgclip_core import efficiency as eff
from lgclip_core.book import report
from lgclip_core.errors import BadInputError


# ------------------------------------------------------------------------------------------- efficiency
def test_count_parameters_and_bytes():
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(7, 5), torch.nn.BatchNorm1d(5))
    expected = sum(p.numel() for p in m.parameters())
    assert eff.count_parameters(m) == expected
    buffers = sum(b.numel() * b.element_size() for b in m.buffers())
    assert eff.parameter_bytes(m) == 4 * expected + buffers
    assert eff.parameter_bytes(m, include_buffers=False) == 4 * expected
    m[0].weight.requires_grad_(False)
    assert eff.count_parameters(m, trainable_only=True) == expected - m[0].weight.numel()


def test_shared_parameters_counted_once():
    lin = torch.nn.Linear(4, 4)
    tied = torch.nn.ModuleList([lin, lin])
    assert eff.count_parameters(tied) == eff.count_parameters(lin)


def test_throughput_times_the_calls():
    calls = []

    def fn(batch):
        calls.append(len(batch))
        time.sleep(0.02)

    t = eff.throughput(fn, list(range(10)), repeats=3, warmup=2)
    assert len(calls) == 5 and t.items == 10 and len(t.seconds) == 3
    assert 0.015 < t.median_s < 0.5
    assert t.items_per_s == pytest.approx(10 / t.median_s)
    with pytest.raises(BadInputError, match="repeats"):
        eff.throughput(fn, [1], repeats=0)


def test_peak_memory_sees_a_numpy_allocation():
    size = 40 * 2**20

    def allocate():
        a = np.ones(size, dtype=np.uint8)
        return int(a[::4096].sum())

    result, rep = eff.peak_memory(allocate)
    assert result == len(range(0, size, 4096))
    assert rep.python_peak_bytes >= size
    assert rep.rss_peak_bytes >= rep.rss_before_bytes > 0


def test_cost_models():
    n = np.array([0, 10, 100])
    np.testing.assert_allclose(eff.total_cost(5.0, 0.5, n), [5.0, 10.0, 55.0])
    assert eff.break_even(10.0, 1.0, 0.0, 2.0) == pytest.approx(10.0)
    assert eff.break_even(10.0, 2.0, 0.0, 1.0) is None  # A costs more up front and per item
    assert eff.break_even(1.0, 1.0, 2.0, 1.0) is None
    assert eff.amortisation_point(100.0, 0.5) == pytest.approx(200.0)
    assert eff.amortisation_point(100.0, 1.0, share=0.1) == pytest.approx(900.0)
    with pytest.raises(BadInputError, match="share"):
        eff.amortisation_point(1.0, 1.0, share=1.0)


def test_a_failed_memory_probe_names_the_childs_error():
    """The child's last error line (here the zoo's list of registered encoders) is the one line shown."""
    from lgclip_core.errors import MeasurementError

    with pytest.raises(MeasurementError, match="unknown image encoder 'no-such-tower'") as info:
        eff.fresh_process_memory("image", profile="tiny", image_encoder="no-such-tower", batch=1, image_size=32)
    assert "\n" not in str(info.value) and "Traceback" in info.value.stderr
    with pytest.raises(BadInputError, match="scenario"):
        eff.fresh_process_memory("gpu")


# ---------------------------------------------------------------------------------------------- report
def test_paper_table_cites_its_source_and_is_marked_unverified():
    p = report.paper_table()
    assert set(p.paper) == {"lgclip", "t2ipal"}
    assert (p.verified == "no").all() and p.source.str.len().gt(10).all()
    assert p.value.between(0, 100).all()
    assert not p.duplicated(["paper", "dataset", "backbone", "method", "metric"]).any()
    from lgclip_core import zoo

    lg = p[p.paper == "lgclip"]
    assert set(lg.dataset) <= set(zoo.BACKENDS["dataset"])
    assert set(lg.backbone) <= set(zoo.BACKENDS["image_encoder"])


def write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def test_collect_and_compare(tmp_path):
    results = tmp_path / "results"
    write(results / "offline" / "lgclip.json", {"profile": "offline", "dataset": "fashion-mnist",
                                                "backbone": "efficientnet-lite0", "n_test": 100,
                                                "accuracy": {"lgclip": 0.5, "real_1shot": 0.25}})
    write(results / "paper" / "pets_b32" / "lgclip.json", {"dataset": "oxford-pets", "backbone": "clip-vit-b-32",
                                                           "accuracy": {"lgclip": 0.6}})
    write(results / "offline" / "t2ipal.json", {"profile": "offline", "dataset": {"name": "scenes"},
                                                "map": {"tai": 0.6, "t2ipal": 0.7}, "cf1": {"t2ipal": 0.5},
                                                "map_std": {"t2ipal": 0.01}, "data": {"n_test_scenes": 9},
                                                "manifest": {"models": {"image_encoder": {"name": "enc"}}}})
    write(results / "offline" / "generator.json", {"cas": 0.8, "images_per_s": 12.0,
                                                   "generator": {"name": "g"}})
    ours = report.collect_results(results)
    assert set(ours.profile) == {"offline", "paper"}  # the paper run's profile comes from its folder
    lg = ours[ours.paper == "lgclip"].set_index(["profile", "method"]).value
    assert lg[("offline", "lgclip")] == pytest.approx(50.0) and lg[("paper", "lgclip")] == pytest.approx(60.0)
    t2 = ours[ours.paper == "t2ipal"]
    got = sorted(zip(t2.method, t2.metric, t2.value.round(6), strict=True))
    assert got == [("t2ipal", "CF1", 50.0), ("t2ipal", "mAP", 70.0), ("tai", "mAP", 60.0)]  # stds are not rows
    assert set(t2.dataset) == {"scenes"} and set(t2.backbone) == {"enc"} and set(t2.n_test) == {9}
    assert ours[(ours.paper == "generator") & (ours.method == "cas")].value.item() == pytest.approx(80.0)

    table = report.comparison_table(report.paper_table(), ours, "lgclip", methods=report.LGCLIP_PAPER_METHODS)
    row = table[(table.dataset == "oxford-pets") & (table.backbone == "clip-vit-b-32")
                & (table.method == "lgclip")].iloc[0]
    paper_value = report.paper_table().query(
        "dataset == 'oxford-pets' and backbone == 'clip-vit-b-32' and method == 'lgclip'").value.item()
    assert row[report.PAPER_COL] == pytest.approx(paper_value)
    assert row[report.OURS_PAPER_COL] == pytest.approx(60.0)
    assert row["ours (paper profile) - paper"] == pytest.approx(60.0 - paper_value)
    assert "real_1shot" not in set(table.method)  # not a method the paper reports

    shown = report.format_comparison(table)
    cub = shown[(shown.dataset == "cub200") & (shown.method == "lgclip")].iloc[0]
    assert cub[report.OURS_PAPER_COL] == "not run" and cub[report.OURS_OFFLINE_COL] == "needs the paper profile"
    fm = shown[(shown.dataset == "fashion-mnist") & (shown.method == "lgclip")].iloc[0]
    assert fm[report.PAPER_COL] == "not reported" and fm[report.OURS_OFFLINE_COL] == "50.00"

    files = report.expected_files(results).set_index("file").status
    assert files[str(results / "offline" / "lgclip.json")] == "found"
    not_run = {Path(f).relative_to(results).as_posix() for f in files[files == "not run"].index}
    assert not_run == {"paper/*/t2ipal.json", "offline/*_efficientnet-lite*/lgclip.json",
                       "offline/digits-generator/generator.json", "offline/t2ipal-digits/t2ipal.json"}


def test_missing_results_folder_gives_empty_table(tmp_path):
    ours = report.collect_results(tmp_path / "nothing")
    assert isinstance(ours, pd.DataFrame) and ours.empty and list(ours.columns) == report.COLUMNS
    table = report.comparison_table(report.paper_table(), ours, "lgclip", methods=report.LGCLIP_PAPER_METHODS)
    assert table[report.OURS_PAPER_COL].isna().all() and table[report.PAPER_COL].notna().all()


def test_broken_json_names_the_file(tmp_path):
    (tmp_path / "offline").mkdir()
    (tmp_path / "offline" / "lgclip.json").write_text("{not json")
    with pytest.raises(report.BadInputError, match="lgclip.json"):
        report.collect_results(tmp_path)


def test_the_committed_offline_results_are_read() -> None:
    """The files `lgclip reproduce ... --out results/offline` wrote are what the report chapter reads."""
    from lgclip_core.experiments.t2ipal import METHOD_ORDER

    ours = report.collect_results("results")
    offline = ours[ours.profile == "offline"]
    assert {"lgclip", "t2ipal", "generator"} <= set(offline.paper)
    t2 = offline[(offline.paper == "t2ipal") & (offline.metric == "mAP")]
    assert set(t2.method) == set(METHOD_ORDER) and t2.value.between(0, 100).all()
    assert set(offline[offline.paper == "lgclip"].method) >= {"lgclip", "text_zero_shot", "real_class_means"}


# ------------------------------------------------------------------------- the efficiency experiment (chapter 07)
def test_cost_table_and_summary_follow_the_measurements():
    from lgclip_core.experiments import efficiency as exp

    ms = pd.DataFrame({"scales": [1, 10, 10], "mode": ["single view (no cropping)", "batched", "one pass per scale"],
                       "images/s": [100.0, 20.0, 10.0]})
    ms["slowdown vs single view"] = 100.0 / ms["images/s"]
    cache = exp.CacheCosts(n_images=20, image_shape=(28, 28), first_s=4.0, second_s=0.04, hits=2, misses=2,
                           cache_bytes=1000, identical=True, table=pd.DataFrame())
    costs = exp.cost_table(ms, 10, cache, text_once_s=0.5).set_index("method")
    cold = costs.loc["LGCLIP, cold cache"]
    assert cold["per image s"] == pytest.approx(0.05) and cold["one-time s"] == pytest.approx(4.0 + 20 * 0.05)
    assert costs.loc["text zero-shot (both towers)", "per image s"] == pytest.approx(0.01)
    assert cold["images until one-time is half the cost"] == pytest.approx(5.0 / 0.05)

    sizes = pd.DataFrame({"model": ["m", "m"], "tower": ["image", "text"], "name": ["img", "txt"],
                          "parameters": [3, 1], "MB": [3.0, 1.0]})
    speed = pd.DataFrame({"model": ["m"] * 3, "inference": ["image tower only", "image + cached class texts",
                                                            "image + text towers per call"],
                          "images/s": [100.0, 100.0, 25.0]})
    gen = pd.DataFrame({"batch size": [1, 4], "s/image": [0.2, 0.1]})
    lines = exp.summary(sizes, pd.DataFrame(columns=["architecture", "image share"]),
                        pd.DataFrame({"scenario": [], "peak RSS (MB)": []}), speed, 80, 32, ms, 10, gen, cache,
                        costs.reset_index())
    text = "\n".join(lines)
    assert "25%" in text and "4.0x the throughput" in text and "5.0x slower" in text and "(batch 4)" in text
    assert "100x faster" in text and "never cross" in text  # LGCLIP costs more up front and per image


def test_fresh_process_peak_is_the_childs_own_not_the_parents():
    """Linux's ru_maxrss carries the parent's peak across fork + exec: a 1.5 GB parent must not show in the child."""
    ballast = np.ones(1536 * 2**20, np.uint8)  # resident: every page written
    r = eff.fresh_process_memory("baseline", seed=0)
    assert ballast[::4096].all()
    assert r["peak_rss_bytes"] < 1024 * 2**20, r  # Python + numpy + torch + the package (~0.5 GB), no model


def test_efficiency_measurements_round_trip_through_json():
    from lgclip_core.experiments import efficiency as exp

    committed = exp.load_measurements(report.repo_path("results/offline/efficiency.json"))
    again = exp.Measurements.from_json(json.loads(json.dumps(committed.to_json(), default=float)))
    assert again.settings == committed.settings and again.cache.image_shape == committed.cache.image_shape
    for t in exp.Measurements._TABLES:
        pd.testing.assert_frame_equal(getattr(again, t), getattr(committed, t))
    assert again.summary() == committed.summary()
    loads = committed.manifest["load"]  # every step's timing carries the machine's load
    assert set(loads) == set(committed.manifest["timings_s"]) and all("loadavg_1m_5m_15m" in v for v in loads.values())
    with pytest.raises(Exception, match="lgclip measure-efficiency"):
        exp.load_measurements("/nonexistent/efficiency.json")


def test_paper_shapes_tables_read_the_committed_results(tmp_path):
    from lgclip_core.book.report import repo_path
    from lgclip_core.experiments import efficiency as exp

    assert exp.paper_shapes_tables(tmp_path) is None
    roles, runs, util = exp.paper_shapes_tables(repo_path("results") / "paper-shapes")
    assert set(roles.run) == set(runs.run) == {"lgclip", "t2ipal"} and 0 < util <= 1
    assert (roles["s / item"] > 0).all() and runs["CPU hours (this machine)"].gt(0).all()


# ----------------------------------------------------------------------------- LGCLIP method table (chapter 05)
def test_lgclip_method_table_marks_real_label_methods():
    result = json.loads(report.repo_path("results/offline/lgclip.json").read_text())
    table = report.lgclip_method_table(result)
    assert list(table.index) == list(result["accuracy"])
    real = set(table.index[table["uses real labelled images"] == "yes"])
    assert real == {m for m in result["accuracy"] if m.startswith(("real_", "linear_probe"))}
    assert table.loc["hybrid", "what"].endswith(str(result["config"]["hybrid_weight"]))
    assert table.loc["lgclip", "paper's ablation row"] == "LLM + multi-scale"
    findings = "\n".join(report.lgclip_findings(result))
    assert f"{result['accuracy']['lgclip']:.1%}" in findings
    claims, sentence = report.lgclip_paper_claims(report.paper_table())
    assert "imagenet-val" in claims.index and sentence.startswith("The paper's ablation")


def test_t2ipal_method_table_reads_mean_std_and_seeds():
    from lgclip_core.experiments.t2ipal import METHOD_ORDER

    results = json.loads(report.repo_path("results/offline/t2ipal.json").read_text())
    table = report.t2ipal_method_table(results, ["t2ipal", "not-a-method", "tai"])
    assert list(table.index) == ["t2ipal", "tai"]
    mean, std = 100 * results["map"]["t2ipal"], 100 * results["map_std"]["t2ipal"]
    assert table.loc["t2ipal", "mAP"] == f"{mean:.2f} ± {std:.2f}"
    assert table.loc["tai", "mAP per seed"].count(",") == len(results["map_per_seed"]["tai"]) - 1
    assert set(report.t2ipal_method_table(results, METHOD_ORDER).index) == set(results["map"])


def test_frontier_runs_are_their_own_table_not_report_rows() -> None:
    """Runs under results/offline/frontier/ (other settings of the same method) feed the accuracy/time frontier
    and are not counted again as the offline reproduction."""
    committed = "results/offline/lgclip.json"
    front = report.frontier_table([committed, "results/offline/frontier/no-such-run/lgclip.json"])
    assert len(front) == 1  # a missing run is skipped
    row = front.iloc[0]
    result = json.loads(report.repo_path(committed).read_text())
    assert row["lgclip"] == result["accuracy"]["lgclip"] and row["time_s"] == result["timings_s"]["total"]
    assert row["scales"] == result["config"]["n_scales"] and row["input_px"] == result["config"]["input_size"] == 224
    assert row["N"] == result["config"]["n_per_class"] == 100 and row["guidance"] == 2.0
    assert row["backend"] == result["manifest"]["models"]["image_encoder"].get("backend", "eager")
    ours = report.collect_results("results")
    lg = ours[(ours.profile == "offline") & (ours.paper == "lgclip") & (ours.method == "lgclip")]
    # the frontier runs did not add rows; the grid's cells are the offline reproduction's other rows
    assert not lg.file.str.contains("frontier").any(), lg
    assert len(lg) == 1 + len(list(report.repo_path("results/offline").glob("*_efficientnet-lite*/lgclip.json")))


def test_multiscale_findings_compare_one_scale_with_more_at_each_size() -> None:
    front = pd.DataFrame({"input_px": [112, 112, 224, 224, 112], "scales": [1, 10, 1, 10, 10],
                          "precision": ["bf16", "bf16", "bf16", "bf16", "fp32"],
                          "setting_s": [78.0, 250.0, 231.0, 749.0, 600.0],
                          "lgclip": [0.6724, 0.6827, 0.7171, 0.7032, 0.68]})
    lines = report.multiscale_findings(front)
    assert len(lines) == 2  # fp32 has no one-scale run to compare with
    assert "At 112 px (bf16), 10 scales give lgclip 68.3% against 67.2% with one scale (+1.0 points)" in lines[0]
    assert "(-1.4 points), for 749 s of the run against 231 s." in lines[1]


def test_reproduction_findings_and_provenance_follow_the_files(tmp_path):
    table = pd.DataFrame({"method": ["lgclip", "text_zero_shot"], report.PAPER_COL: [50.0, np.nan],
                          report.OURS_PAPER_COL: [47.5, np.nan], report.OURS_OFFLINE_COL: [60.0, 55.0],
                          "ours (paper profile) - paper": [-2.5, np.nan]})
    text = "\n".join(report.reproduction_findings(table))
    assert "**1** numbers" in text and "cover **1**" in text and "mean -2.50 points" in text
    assert "reaches 60.00% and is above" in text
    write(tmp_path / "results" / "offline" / "lgclip.json", {"profile": "offline", "dataset": "fashion-mnist",
                                                             "accuracy": {}, "manifest": {"environment": {"x": 1}}})
    files = report.expected_files(tmp_path / "results")
    prov = report.provenance(files)
    assert prov.to_dict("records") == [{"file": str(tmp_path / "results" / "offline/lgclip.json"),
                                        "profile": "offline", "dataset": "fashion-mnist", "environment": {"x": 1}}]


def test_zoo_table_lists_every_role():
    from lgclip_core import zoo

    t = report.zoo_table("offline")
    assert list(t.index) == list(zoo.list_backends())
    assert t.loc["dataset", "offline default"] == zoo.PROFILES["offline"]["dataset"]


def test_t2ipal_claim_is_read_from_the_paper_file():
    from lgclip_core.experiments.t2ipal import CLAIM_METHOD, paper_claimed_gain

    p = report.paper_table()
    assert paper_claimed_gain() == float(p[p.method == CLAIM_METHOD].value.iloc[0]) > 0


def test_multiscale_findings_compare_runs_of_the_same_n_and_guidance_only() -> None:
    """The default run (224 px, one scale, N = 100, guidance 2) is not the one-scale partner of a 10-scale run
    with the paper's N = 10 and guidance 3."""
    front = pd.DataFrame({"input_px": [224, 224, 224], "scales": [1, 1, 10], "N": [100, 10, 10],
                          "guidance": [2.0, 3.0, 3.0], "precision": ["bf16"] * 3,
                          "setting_s": [280.0, 231.0, 749.0], "lgclip": [0.7284, 0.7171, 0.7032]})
    lines = report.multiscale_findings(front)
    assert len(lines) == 1 and "70.3% against 71.7% with one scale (-1.4 points)" in lines[0]


def test_findings_say_when_the_run_used_one_scale_and_what_self_training_added() -> None:
    result = json.loads(report.repo_path("results/offline/lgclip.json").read_text())
    text = "\n".join(report.lgclip_findings(result))
    acc = result["accuracy"]
    assert result["config"]["n_scales"] == 1 and "off in this run (one scale" in text
    assert "with multi-scale features" not in text
    assert f"reaches **{acc['hybrid_self_trained']:.1%}**" in text
    assert f"{result['self_training']['pool']:,} real train images" in text
    paper = json.loads(report.repo_path("results/offline/frontier/112px-10scales/lgclip.json").read_text())
    paper_text = "\n".join(report.lgclip_findings(paper))
    assert "**Multi-scale module** (10 scales)" in paper_text and "Unlabelled" not in paper_text
