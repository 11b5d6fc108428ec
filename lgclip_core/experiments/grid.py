"""`lgclip reproduce grid`: the offline LGCLIP table, every offline data set x every offline backbone.

Each cell is one ordinary ``lgclip reproduce lgclip --dataset D --backbone B --out ROOT/D_B`` run on the whole
test split at the backbone's native input size. The driver runs the missing cells one after another (one heavy
job at a time), so an interrupted grid resumes at the first unfinished cell, and an interrupted cell resumes from
the artifact cache (prompts, images and features are stored as they are made). ``summarize_grid`` reads the
cells back: accuracies, bootstrap intervals over test images and the paired effects of the LLM prompts and of
the multi-scale module; the book's report chapter shows that summary.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from .. import zoo
from ..errors import BadInputError
from ..metrics import bootstrap_interval
from .common import write_json
from .lgclip import PAPER_SETTINGS, PER_IMAGE, PER_IMAGE_MULTISCALE, LGCLIPConfig, read_per_image, run_lgclip

GRID_DATASETS = ("fashion-mnist", "digits")
GRID_BACKBONES = ("efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2")
GRID_ROOT = Path("results/offline")
GRID_SUMMARY = "grid.json"
# The paper's rows; the references use real labelled TRAIN images (not zero-shot, for scale).
GRID_METHODS = ("lgclip", "prototypes_only", "llm_only", "multiscale_only", "text_zero_shot", "hybrid")
GRID_REFERENCES = ("real_10shot", "linear_probe_real")
# (name, method, baseline, what it isolates): paired differences on the same test images
GRID_EFFECTS = (
    ("llm_prompts", "llm_only", "prototypes_only", "LLM descriptions instead of the template prompt"),
    ("lgclip_vs_text", "lgclip", "text_zero_shot", "LGCLIP against the text classifier"),
    ("hybrid_vs_lgclip", "hybrid", "lgclip", "mixing the text classifier into LGCLIP (hybrid)"),
)
MULTISCALE_EFFECT = ("multiscale_paper_s", "the paper's 10 crop scales instead of one (LGCLIP prototypes)")


def cell_dir(root: str | Path, dataset: str, backbone: str) -> Path:
    return Path(root) / f"{dataset}_{backbone}"


def cell_status(root: str | Path, dataset: str, backbone: str) -> str:
    """"done" (a full-test-set result with per-image predictions for this data set and backbone), "partial"
    (a folder without them: re-run) or "missing"."""
    d = cell_dir(root, dataset, backbone)
    result = d / "lgclip.json"
    if not result.exists():
        return "partial" if d.exists() else "missing"
    r = json.loads(result.read_text())
    cfg = r.get("config", {})
    files = [PER_IMAGE] + ([PER_IMAGE_MULTISCALE] if _paper_scales_separate(cfg) else [])
    asked = (cfg.get("dataset"), cfg.get("backbone"))  # the names the cell was run with (the zoo's)
    ok = asked == (dataset, backbone) and cfg.get("n_test") is None and all(
        (d / f).exists() for f in files)
    return "done" if ok else "partial"


def _paper_scales_separate(cfg: dict[str, Any]) -> bool:
    """Whether the run measured the paper's S apart from its rows (its own S is smaller)."""
    return int(cfg.get("n_scales", PAPER_SETTINGS["n_scales"])) < PAPER_SETTINGS["n_scales"]


def run_grid(root: str | Path = GRID_ROOT, datasets: tuple[str, ...] = GRID_DATASETS,
             backbones: tuple[str, ...] = GRID_BACKBONES, force: bool = False, progress: bool = True,
             **overrides: Any) -> dict[str, Any]:
    """Run the cells that are not done (all with ``force``), in order, then write and return the summary.
    ``overrides`` go to every cell's ``LGCLIPConfig`` (e.g. ``n_test`` for a smoke run: such a cell is not
    "done", and the next run of the grid runs it again at full size)."""
    for d in datasets:
        zoo.resolve("dataset", d)
    for b in backbones:
        zoo.resolve("image_encoder", b)
    times: dict[str, float] = {}
    for d in datasets:
        for b in backbones:
            if not force and cell_status(root, d, b) == "done":
                continue
            print(f"grid cell {d} x {b} -> {cell_dir(root, d, b)}", flush=True)
            t0 = time.perf_counter()
            cfg = LGCLIPConfig.full(dataset=d, backbone=b, **{"ablation_paper_scales": True, **overrides})
            run_lgclip(cfg, out=cell_dir(root, d, b), progress=progress)
            times[f"{d}_{b}"] = round(time.perf_counter() - t0, 1)
            zoo.clear_loaded()  # one backbone's models at a time in memory
    summary = summarize_grid(root, datasets, backbones)
    summary["driver_seconds_this_run"] = times
    write_json(Path(root) / GRID_SUMMARY, summary)
    return summary


def summarize_grid(root: str | Path = GRID_ROOT, datasets: tuple[str, ...] = GRID_DATASETS,
                   backbones: tuple[str, ...] = GRID_BACKBONES, n_boot: int = 2000,
                   seed: int = 0) -> dict[str, Any]:
    """Every cell's accuracies with 95 % bootstrap intervals over its test images, the paired effects
    (``GRID_EFFECTS``), the run's settings and manifest pointers; cells not done are listed as missing."""
    cells, missing = {}, []
    for d in datasets:
        for b in backbones:
            key = f"{d}_{b}"
            if cell_status(root, d, b) != "done":
                missing.append(key)
                continue
            folder = cell_dir(root, d, b)
            r = json.loads((folder / "lgclip.json").read_text())
            _, correct = read_per_image(folder / PER_IMAGE)
            acc = {m: bootstrap_interval(correct[m], n_boot=n_boot, seed=seed) for m in GRID_METHODS}
            for m in acc:  # the interval's estimate is the run's own number, recomputed from its predictions
                if abs(acc[m]["estimate"] - r["accuracy"][m]) > 1e-9:
                    raise BadInputError(f"{folder}: {PER_IMAGE} gives {m} = {acc[m]['estimate']:.4f} but "
                                        f"lgclip.json says {r['accuracy'][m]:.4f}: re-run the cell")
            effects = {name: {**bootstrap_interval(correct[m], correct[base], n_boot=n_boot, seed=seed),
                              "method": m, "baseline": base, "what": what}
                       for name, m, base, what in GRID_EFFECTS}
            if _paper_scales_separate(r["config"]):  # the run's S is 1: the paper's S = 10 on a test subset
                _, ms = read_per_image(folder / PER_IMAGE_MULTISCALE)
                pair = ms["lgclip_paper_scales"], ms["lgclip_1_scale"]
            else:  # the rows themselves fuse the paper's scales
                pair = correct["lgclip"], correct["llm_only"]
            name, what = MULTISCALE_EFFECT
            effects[name] = {**bootstrap_interval(*pair, n_boot=n_boot, seed=seed), "what": what,
                             "method": "lgclip_paper_scales", "baseline": "lgclip_1_scale"}
            cfg = r["config"]
            cells[key] = {
                "dataset": d, "backbone": b, "n_test": r["n_test"], "input_size": cfg["input_size"],
                "n_scales": cfg["n_scales"], "n_per_class": r["n_per_class"], "generator": r["generator"],
                "accuracy": acc, "references": {m: r["accuracy"][m] for m in GRID_REFERENCES},
                "hybrid_self_trained": r["accuracy"].get("hybrid_self_trained"), "effects": effects,
                "seconds": r["timings_s"]["total"], "load": r.get("timings_load"),
                "result": str(folder / "lgclip.json"),
            }
    return {"what": "offline LGCLIP: data sets x backbones, full test sets, 95 % percentile bootstrap intervals "
                    "over test images (paired for effects)", "datasets": list(datasets),
            "backbones": list(backbones), "cells": cells, "missing": missing,
            "bootstrap": {"n_boot": n_boot, "seed": seed, "level": 0.95}}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default=str(GRID_ROOT), help="root of the cells (ROOT/<dataset>_<backbone>/)")
    p.add_argument("--datasets", nargs="+", default=list(GRID_DATASETS), help="offline data sets (rows)")
    p.add_argument("--backbones", nargs="+", default=list(GRID_BACKBONES), help="offline backbones (columns)")
    p.add_argument("--force", action="store_true", help="re-run cells that are already done")
    p.add_argument("--status", action="store_true", help="only list each cell's status")


def run(args: argparse.Namespace) -> int:
    datasets, backbones = tuple(args.datasets), tuple(args.backbones)
    if args.status:
        for d in datasets:
            for b in backbones:
                print(f"{d:<14} {b:<20} {cell_status(args.out, d, b)}")
        return 0
    summary = run_grid(args.out, datasets, backbones, force=args.force)
    for key, c in summary["cells"].items():
        a = c["accuracy"]
        print(f"{key:<36} lgclip {a['lgclip']['estimate']:.3f} [{a['lgclip']['low']:.3f}, {a['lgclip']['high']:.3f}]"
              f"  text {a['text_zero_shot']['estimate']:.3f}  {c['seconds']:.0f} s")
    print(f"wrote {Path(args.out) / GRID_SUMMARY}" + (f" (missing: {summary['missing']})" if summary["missing"]
                                                      else ""))
    return 0
