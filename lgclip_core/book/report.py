"""The reproduction report: the papers' numbers, our paper-profile runs and our offline runs, side by side.

Everything comes from files, never from numbers typed into a notebook:

* ``book/data/paper_lgclip.csv`` and ``book/data/paper_t2ipal.csv``: numbers quoted in the project's paper notes,
  one row per (dataset, backbone, method, metric), each with its source and whether it was verified against the
  paper's PDF (``paper_table``);
* results JSON files written by the commands (``collect_results``):

  ============================================  ==========================================================
  ``results/offline/lgclip.json``               ``lgclip reproduce lgclip --out results/offline``
  ``results/offline/t2ipal.json``               ``lgclip reproduce t2ipal --out results/offline``
  ``results/offline/generator.json``            ``lgclip eval-generator --out results/offline``
  ``results/paper/<run>/lgclip.json``           ``lgclip reproduce lgclip --profile paper --dataset D
                                                --backbone B --out results/paper/<run>``
  ============================================  ==========================================================

Values are reported in percent for accuracy, mAP, CF1, OF1 and CAS (our JSON files hold fractions).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..checkout import checkout, checkout_candidates
from ..errors import BadInputError

__all__ = ["PAPER_FILES", "EXPECTED", "LGCLIP_PAPER_METHODS", "repo_path", "paper_table", "collect_results",
           "rows_from_lgclip", "rows_from_t2ipal", "rows_from_generator", "expected_files", "comparison_table",
           "format_comparison", "run_offline_quick", "GENERATED_METHODS", "REAL_LABEL_METHODS", "ABLATION_ROWS",
           "LGCLIP_METHODS", "lgclip_method_table", "lgclip_paper_claims", "lgclip_findings", "t2ipal_method_table",
           "grid_table", "grid_effects_table", "grid_findings"]

PAPER_FILES = {"lgclip": "book/data/paper_lgclip.csv", "t2ipal": "book/data/paper_t2ipal.csv"}
COLUMNS = ["profile", "paper", "dataset", "backbone", "method", "metric", "value", "n_test", "file"]
# The methods the LGCLIP paper reports (main table, ablation, and the text zero-shot context), in display order.
LGCLIP_PAPER_METHODS = ("lgclip", "prototypes_only", "llm_only", "multiscale_only", "text_zero_shot")
# The accuracy keys of an LGCLIP run, in two groups: whether a method uses real labelled images is which group it is
# in. "{...}" fields are filled from the run's config (``lgclip_method_table``).
GENERATED_METHODS: dict[str, str] = {  # no real labelled image
    "lgclip": "LGCLIP: LLM description + multi-scale ({n_scales} scale(s))",
    "prototypes_only": "template prompt, single view",
    "llm_only": "LLM description, single view",
    "multiscale_only": "template prompt, multi-scale",
    "lgclip_llm_per_image": "LGCLIP, description i for image i",
    "lgclip_3_prototypes": "LGCLIP, 3 k-means prototypes per class from N_MAX images",
    "lgclip_centered": "LGCLIP, each domain's mean removed (transductive: uses the unlabelled test batch)",
    "text_zero_shot": "text zero-shot (class prompts in a joint text-image space)",
    "hybrid": "image prototypes + text zero-shot, weight {hybrid_weight}",
    "hybrid_self_trained": "the hybrid's most confident pseudo-labels on {unlabeled_pool} UNLABELLED real train "
                           "images train a logistic regression",
}
REAL_LABEL_METHODS: dict[str, str] = {  # the references that use real labelled images
    "real_1shot": "1 real image per class as prototype",
    "real_10shot": "10 real images per class, mean",
    "real_class_means": "mean of {real_per_class} real images per class",
    "linear_probe_real": "logistic regression on real features",
}
# the methods that are rows of the paper's ablation table -> the row's name there
ABLATION_ROWS = {"lgclip": "LLM + multi-scale", "prototypes_only": "prototypes only", "llm_only": "+ LLM",
                 "multiscale_only": "+ multi-scale"}
# key -> (what it is, uses real labelled images, row of the paper's ablation table)
LGCLIP_METHODS: dict[str, tuple[str, bool, str]] = {
    **{m: (what, False, ABLATION_ROWS.get(m, "")) for m, what in GENERATED_METHODS.items()},
    **{m: (what, True, "") for m, what in REAL_LABEL_METHODS.items()},
}
MULTILABEL_METRICS = {"map": "mAP", "cf1": "CF1", "of1": "OF1"}  # t2ipal.json key -> metric name
# (pattern under the results folder, command that writes it)
EXPECTED = [
    ("offline/lgclip.json", "lgclip reproduce lgclip --out results/offline"),
    ("offline/t2ipal.json", "lgclip reproduce t2ipal --out results/offline"),
    ("offline/t2ipal-digits/t2ipal.json", "lgclip reproduce t2ipal --dataset digits --out "
                                          "results/offline/t2ipal-digits"),
    ("offline/generator.json", "lgclip eval-generator --out results/offline"),
    ("offline/*_efficientnet-lite*/lgclip.json", "lgclip reproduce grid (or lgclip reproduce lgclip --dataset D "
                                                 "--backbone B --out results/offline/D_B)"),
    ("offline/digits-generator/generator.json", "lgclip eval-generator --dataset digits --out "
                                                "results/offline/digits-generator"),
    ("paper/*/lgclip.json", "lgclip reproduce lgclip --profile paper --dataset D --backbone B "
                            "--out results/paper/D_B"),
    ("paper/*/t2ipal.json", "lgclip reproduce t2ipal --profile paper --out results/paper/<run>"),
]


def repo_path(relative: str | os.PathLike) -> Path:
    """Resolve a repository-relative path: in the repository checkout (``checkout.checkout``: ``$LGCLIP_CHECKOUT``,
    an editable install's folder, or the working folder or its parent), else from a notebook's folder (cwd
    ``notebooks/``), else from the cwd; an absolute path is returned as it is. The checkout comes first so that a
    chapter's own output folder (``notebooks/results/``) never shadows the repository's ``results/``. A path found
    nowhere is the checkout's (``MissingAssetError`` naming ``$LGCLIP_CHECKOUT`` when there is no checkout)."""
    rel = Path(relative)
    if rel.is_absolute():
        return rel
    candidates = [*(root / rel for root in checkout_candidates()), Path.cwd().parent / rel, Path.cwd() / rel]
    for c in candidates:
        if c.exists():
            return c
    return checkout() / rel


# ------------------------------------------------------------------------------------------- the papers
def paper_table(paths: Iterable[str | os.PathLike] | None = None) -> pd.DataFrame:
    """The papers' numbers from the CSV files (``#`` lines are comments that cite the source)."""
    frames = []
    for p in (paths if paths is not None else PAPER_FILES.values()):
        path = repo_path(p)
        if not path.exists():
            raise BadInputError(f"paper numbers file {path} not found (it ships in the repository's book/data/)")
        df = pd.read_csv(path, comment="#", dtype={"value": float})
        missing = {"paper", "dataset", "backbone", "method", "metric", "value", "verified", "source"} - set(df)
        if missing:
            raise BadInputError(f"{path} lacks the column(s) {sorted(missing)}")
        df["file"] = str(p)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------------------------------- our results
def _row(profile: str, paper: str, dataset: Any, backbone: Any, method: str, metric: str, value: float,
         n_test: Any, file: str) -> dict[str, Any]:
    return {"profile": profile, "paper": paper, "dataset": dataset, "backbone": backbone, "method": method,
            "metric": metric, "value": float(value), "n_test": n_test, "file": file}


def rows_from_lgclip(result: dict[str, Any], file: str, profile: str | None = None) -> list[dict[str, Any]]:
    """One row per method of an ``lgclip.json`` (its ``accuracy`` block), top-1 in percent."""
    if "accuracy" not in result:
        raise BadInputError(f"{file}: no 'accuracy' block; is this an lgclip.json written by `lgclip reproduce`?")
    prof = profile or result.get("profile", "unknown")
    return [_row(prof, "lgclip", result.get("dataset"), result.get("backbone"), m, "top1", 100 * float(v),
                 result.get("n_test"), file)
            for m, v in result["accuracy"].items() if isinstance(v, int | float)]


def rows_from_t2ipal(result: dict[str, Any], file: str, profile: str | None = None) -> list[dict[str, Any]]:
    """Every method's mAP / CF1 / OF1 in a ``t2ipal.json`` (as ``lgclip reproduce t2ipal`` writes it:
    ``{"map": {method: value}, "cf1": {...}, "of1": {...}}``, values in 0..1), in percent."""
    prof = profile or result.get("profile", "unknown")
    ds = result.get("dataset")
    dataset = ds.get("name") if isinstance(ds, dict) else ds
    encoder = ((result.get("manifest") or {}).get("models") or {}).get("image_encoder")
    backbone = encoder.get("name") if isinstance(encoder, dict) else encoder
    n_test = (result.get("data") or {}).get("n_test_scenes")
    return [_row(prof, "t2ipal", dataset, backbone, method, metric, 100 * float(value), n_test, file)
            for key, metric in MULTILABEL_METRICS.items()
            for method, value in (result.get(key) or {}).items() if isinstance(value, int | float)]


def rows_from_generator(result: dict[str, Any], file: str, profile: str | None = None) -> list[dict[str, Any]]:
    """The offline generator's measurements (``generator.json``): CAS in percent, Frechet distances, images/s."""
    prof = profile or "offline"
    name = (result.get("generator") or {}).get("name") if isinstance(result.get("generator"), dict) else None
    rows = []
    for key, metric, scale in [("cas", "CAS", 100), ("cas_llm_prompts", "CAS", 100),
                               ("fd_generated_vs_test", "FD", 1), ("fd_train_vs_test", "FD", 1),
                               ("prompt_sensitivity", "cosine distance", 1), ("images_per_s", "images/s", 1)]:
        if isinstance(result.get(key), int | float):
            rows.append(_row(prof, "generator", result.get("dataset", "fashion-mnist"), name, key, metric,
                             scale * float(result[key]), result.get("n_test"), file))
    return rows


READERS = {"lgclip": rows_from_lgclip, "t2ipal": rows_from_t2ipal, "generator": rows_from_generator}


def collect_results(results_dir: str | os.PathLike = "results") -> pd.DataFrame:
    """Rows (``COLUMNS``) from every ``lgclip.json``, ``t2ipal.json`` and ``generator.json`` under
    ``results_dir``; the profile is the JSON's own ``profile`` field, else the first folder under
    ``results_dir`` (``offline`` or ``paper``). An absent folder gives an empty table. Runs under a ``frontier``
    folder (other settings of the same method, see ``frontier_table``) are left out."""
    root = repo_path(results_dir)
    rows: list[dict[str, Any]] = []
    if root.exists():
        for path in sorted(root.rglob("*.json")):
            reader = READERS.get(path.stem)
            if reader is None or "frontier" in path.relative_to(root).parts:
                continue
            rel = path.relative_to(root)
            folder_profile = rel.parts[0] if len(rel.parts) > 1 else None
            try:
                data = json.loads(path.read_text())
            except ValueError as exc:
                raise BadInputError(f"{path} is not valid JSON ({exc}); re-run the command that wrote it") from exc
            profile = data.get("profile") or folder_profile or "unknown"
            rows += reader(data, str(Path(results_dir) / rel), profile)
    return pd.DataFrame(rows, columns=COLUMNS)


def expected_files(results_dir: str | os.PathLike = "results") -> pd.DataFrame:
    """Which of the expected results files exist, when they were written, and the command that writes them."""
    root = repo_path(results_dir)
    out = []
    for pattern, command in EXPECTED:
        found = sorted(root.glob(pattern)) if root.exists() else []
        if not found:
            out.append({"file": str(Path(results_dir) / pattern), "status": "not run", "written": "",
                        "command": command})
        for f in found:
            out.append({"file": str(Path(results_dir) / f.relative_to(root)), "status": "found",
                        "written": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(f.stat().st_mtime)),
                        "command": command})
    return pd.DataFrame(out, columns=["file", "status", "written", "command"])


# ------------------------------------------------------------------------------------- side by side
PAPER_COL, OURS_PAPER_COL, OURS_OFFLINE_COL = "paper (quoted)", "ours, paper profile", "ours, offline"
KEYS = ["dataset", "backbone", "method", "metric"]


def comparison_table(paper: pd.DataFrame, ours: pd.DataFrame, paper_name: str = "lgclip",
                     methods: Iterable[str] | None = None) -> pd.DataFrame:
    """One row per (dataset, backbone, method, metric) that the paper or one of our runs has; columns: the
    paper's value, ours with the paper profile, ours offline (NaN where absent; several runs of one key are
    averaged and counted in ``runs``), and ours (paper profile) minus the paper."""
    methods = list(methods) if methods is not None else None
    p = paper[paper["paper"] == paper_name]
    o = ours[ours["paper"] == paper_name]
    if methods is not None:
        p, o = p[p["method"].isin(methods)], o[o["method"].isin(methods)]
    frames = [p.groupby(KEYS, dropna=False)["value"].mean().rename(PAPER_COL)]
    for profile, col in (("paper", OURS_PAPER_COL), ("offline", OURS_OFFLINE_COL)):
        frames.append(o[o["profile"] == profile].groupby(KEYS, dropna=False)["value"].mean().rename(col))
    runs = o.groupby(KEYS, dropna=False)["file"].nunique().rename("runs")
    table = pd.concat([*frames, runs], axis=1)
    for col in (PAPER_COL, OURS_PAPER_COL, OURS_OFFLINE_COL):
        if col not in table:
            table[col] = np.nan
    table["runs"] = table["runs"].fillna(0).astype(int)
    table["ours (paper profile) - paper"] = table[OURS_PAPER_COL] - table[PAPER_COL]
    order = {m: i for i, m in enumerate(methods or [])}
    table = table.reset_index()
    table["_m"] = table["method"].map(lambda m: order.get(m, len(order)))
    table = table.sort_values(["dataset", "backbone", "_m", "method"]).drop(columns="_m")
    return table.reset_index(drop=True)


def _offline_dataset(name: Any) -> bool:
    from .. import zoo

    backend = zoo.BACKENDS["dataset"].get(str(name))
    return backend is not None and backend.source == "offline"


def format_comparison(table: pd.DataFrame, digits: int = 2) -> pd.DataFrame:
    """The comparison as display strings: a missing paper value reads "not reported", a missing paper-profile
    run "not run", a missing offline value "not run" for an offline dataset and "needs the paper profile"
    for the papers' datasets."""
    out = table.copy()

    def fmt(v: Any, missing: str) -> str:
        return missing if pd.isna(v) else f"{v:.{digits}f}"

    out[PAPER_COL] = [fmt(v, "not reported") for v in table[PAPER_COL]]
    out[OURS_PAPER_COL] = [fmt(v, "not run") for v in table[OURS_PAPER_COL]]
    out[OURS_OFFLINE_COL] = [fmt(v, "not run" if _offline_dataset(d) else "needs the paper profile")
                             for v, d in zip(table[OURS_OFFLINE_COL], table["dataset"], strict=True)]
    diff = "ours (paper profile) - paper"
    out[diff] = ["" if pd.isna(v) else f"{v:+.{digits}f}" for v in table[diff]]
    return out


def run_offline_quick(seed: int = 2024, **overrides: Any) -> dict[str, Any]:
    """Run the quick offline LGCLIP experiment in-process (``LGCLIPConfig.quick(**overrides)``); the result has
    the same layout as ``results/offline/lgclip.json``. Tuples in the config may be given as lists."""
    from ..experiments.lgclip import LGCLIPConfig, run_lgclip

    kw = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
    return run_lgclip(LGCLIPConfig.quick(seed=seed, **kw), out=None, progress=False)


def lgclip_method_table(result: dict[str, Any]) -> pd.DataFrame:
    """The accuracies of an LGCLIP results dict, one row per method, with what each method is, whether it uses
    real labelled images and which row of the paper's ablation it is (``LGCLIP_METHODS``; unknown keys get blanks).
    """
    rows = []
    for m, a in result["accuracy"].items():
        what, real, row = LGCLIP_METHODS.get(m, ("", False, ""))
        rows.append({"method": m, "accuracy": a, "what": what.format(**result.get("config", {})),
                     "uses real labelled images": "yes" if real else "no", "paper's ablation row": row})
    return pd.DataFrame(rows).set_index("method")


def _pts(a: float, b: float) -> str:
    """Signed difference of two accuracies in percentage points."""
    return f"{100 * (a - b):+.1f} points"


def lgclip_findings(result: dict[str, Any]) -> list[str]:
    """Markdown bullet points on an LGCLIP results dict whose wording follows its accuracies (nothing typed)."""
    acc, k, n_max = result["accuracy"], result["n_classes"], result["config"]["n_max"]
    if acc["lgclip"] >= acc["real_10shot"]:
        shots = "at least as good as prototypes from 10 real labelled images per class"
    elif acc["lgclip"] >= acc["real_1shot"]:
        shots = "between the 1-shot and the 10-shot real-image prototypes"
    else:
        shots = "below even a single real labelled image per class"
    lines = [
        f"* **LGCLIP** reaches **{acc['lgclip']:.1%}** ({1 / k:.0%} is chance) — {shots} "
        f"(1-shot {acc['real_1shot']:.1%}, 10-shot {acc['real_10shot']:.1%}). Prototypes from real class means "
        f"reach {acc['real_class_means']:.1%} ({_pts(acc['lgclip'], acc['real_class_means'])} for LGCLIP); a "
        f"linear probe on real features {acc['linear_probe_real']:.1%}.",
        f"* **Against text zero-shot** ({acc['text_zero_shot']:.1%}) LGCLIP is "
        f"{_pts(acc['lgclip'], acc['text_zero_shot'])}; combining both (hybrid) gives {acc['hybrid']:.1%} "
        f"({_pts(acc['hybrid'], max(acc['lgclip'], acc['text_zero_shot']))} over the better of the two).",
        multiscale_line(result),
        f"* **LLM descriptions**: {_pts(acc['llm_only'], acc['prototypes_only'])} at a single view"
        + (f", {_pts(acc['lgclip'], acc['multiscale_only'])} with multi-scale features"
           if result["config"]["n_scales"] > 1 else "")
        + f". One description per image instead of the first for all: {acc['lgclip_llm_per_image']:.1%} "
        f"({_pts(acc['lgclip_llm_per_image'], acc['lgclip'])}).",
        f"* **Beyond the paper**: removing each domain's mean before comparing (generated features minus their "
        f"mean, test features minus theirs; transductive, no label used) gives {acc['lgclip_centered']:.1%} "
        f"({_pts(acc['lgclip_centered'], acc['lgclip'])}); three k-means prototypes per class from {n_max} images "
        f"{acc['lgclip_3_prototypes']:.1%} ({_pts(acc['lgclip_3_prototypes'], acc['lgclip'])}).",
    ]
    if "hybrid_self_trained" in acc:
        st = result["self_training"]
        lines.append(
            f"* **Unlabelled real images** (beyond the paper, no label read): the hybrid pseudo-labels "
            f"{st['pool']:,} real train images ({st['pseudo_label_accuracy']:.1%} of them rightly); a logistic "
            f"regression on the most confident {st['confident_fraction']:.0%} reaches "
            f"**{acc['hybrid_self_trained']:.1%}** ({_pts(acc['hybrid_self_trained'], acc['hybrid'])} over the "
            f"hybrid; real class means, which read labels: {acc['real_class_means']:.1%}).")
    return lines


def multiscale_line(result: dict[str, Any]) -> str:
    """The findings' bullet on the multi-scale module: what it changed, or that the run used one scale."""
    acc, scales = result["accuracy"], result["config"]["n_scales"]
    if scales == 1:
        return ("* **Multi-scale module**: off in this run (one scale: the whole image), so LGCLIP here is the LLM "
                "prototypes at a single view; chapter 06 compares runs with more scales.")
    return (f"* **Multi-scale module** ({scales} scales): {_pts(acc['multiscale_only'], acc['prototypes_only'])} "
            f"with the template prompt ({acc['prototypes_only']:.1%} → {acc['multiscale_only']:.1%}), "
            f"{_pts(acc['lgclip'], acc['llm_only'])} with the LLM prompt ({acc['llm_only']:.1%} → "
            f"{acc['lgclip']:.1%}).")


def lgclip_paper_claims(paper: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The LGCLIP paper's quoted accuracies (dataset x backbone) and one sentence on its own ablation (ImageNet,
    ViT-B/32), both read from ``paper_table()``'s rows."""
    lg = paper[paper.paper == "lgclip"]
    claims = lg[lg.method == "lgclip"].pivot_table(index="dataset", columns="backbone", values="value").round(2)
    abl = lg[(lg.dataset == "imagenet-val") & (lg.backbone == "clip-vit-b-32")].set_index("method")["value"]
    rows = {"prototypes_only": "prototypes only", "llm_only": "+ LLM", "multiscale_only": "+ multi-scale",
            "lgclip": "both (LGCLIP)"}
    text = ("The paper's ablation (ImageNet, ViT-B/32): "
            + ", ".join(f"{v} {abl[m]:.2f}" for m, v in rows.items() if m in abl.index) + ".")
    if {"llm_only", "multiscale_only", "prototypes_only"} <= set(abl.index):
        text += (f" There the LLM descriptions alone {'hurt' if abl['llm_only'] < abl['prototypes_only'] else 'helped'}"
                 f" and the multi-scale module "
                 f"{'helped' if abl['multiscale_only'] > abl['prototypes_only'] else 'hurt'}.")
    return claims, text


def t2ipal_method_table(results: dict[str, Any], order: Iterable[str]) -> pd.DataFrame:
    """mAP, CF1 and OF1 (percent, mean ± std over the seeds) and the per-seed mAPs of a T2I-PAL results dict, one
    row per method in ``order`` that the results hold."""
    methods = [m for m in order if m in results["map"]]

    def pm(key: str, m: str) -> str:
        return f"{100 * results[key][m]:.2f} ± {100 * results[key + '_std'][m]:.2f}"

    return pd.DataFrame({"mAP": [pm("map", m) for m in methods], "CF1 (top-3)": [pm("cf1", m) for m in methods],
                         "OF1 (top-3)": [pm("of1", m) for m in methods],
                         "mAP per seed": [", ".join(f"{100 * v:.2f}" for v in results["map_per_seed"][m])
                                          for m in methods]}, index=methods)


# ------------------------------------------------------------------------------- accuracy against time
FRONTIER_METHODS = ("lgclip", "llm_only", "text_zero_shot", "hybrid", "hybrid_self_trained")


def frontier_table(paths: Iterable[str | os.PathLike], methods: Iterable[str] = FRONTIER_METHODS) -> pd.DataFrame:
    """One row per LGCLIP run (``lgclip.json``): its settings (input size, scales, encoder precision and
    backend), its wall time and the part of it that depends on the setting (``setting_s``), the machine's highest
    load, and the accuracy of ``methods``: the accuracy/time frontier a reader chooses from. Missing files are
    skipped."""
    rows = []
    for p in paths:
        path = repo_path(p)
        if not path.exists():
            continue
        r = json.loads(path.read_text())
        enc = r["manifest"]["models"]["image_encoder"]
        loads = [v["loadavg_1m_5m_15m"][0] for v in r.get("timings_load", {}).values()]
        rows.append({"run": str(p), "input_px": enc.get("input_size"), "scales": r["config"]["n_scales"],
                     "N": r["config"]["n_per_class"],
                     "guidance": r["manifest"]["models"]["generator"].get("guidance_scale"),
                     "precision": enc.get("precision", "fp32"), "backend": enc.get("backend", "eager"),
                     "n_test": r["n_test"],
                     "time_s": r["timings_s"]["total"],
                     # what depends on the setting: the run without loading and prompts (the same for every
                     # setting; generation depends on N and guidance, and is cached or not by what ran before)
                     "setting_s": round(r["timings_s"]["total"] - sum(r["timings_s"].get(k, 0.0) for k in
                                                                     ("load_models", "prompts")), 1),
                     "max_load": max(loads) if loads else float("nan"),
                     **{m: r["accuracy"].get(m) for m in methods}})
    return pd.DataFrame(rows)


def multiscale_findings(front: pd.DataFrame, method: str = "lgclip") -> list[str]:
    """Markdown bullets from a ``frontier_table``: for each input size and precision (and N and guidance, where
    the table has them) run with one scale and with more, what the extra scales change in ``method``'s accuracy
    and in the setting's seconds."""
    lines = []
    keys = ["input_px", "precision"] + [k for k in ("N", "guidance") if k in front]
    for (px, precision, *_), g in front.groupby(keys, sort=True, dropna=False):
        one, many = g[g["scales"] == 1], g[g["scales"] > 1]
        if one.empty or many.empty:
            continue
        a, b = one.iloc[0], many.sort_values("scales").iloc[-1]
        lines.append(f"- At {px} px ({precision}), {b['scales']} scales give {method} {b[method]:.1%} against "
                     f"{a[method]:.1%} with one scale ({100 * (b[method] - a[method]):+.1f} points), for "
                     f"{b['setting_s']:.0f} s of the run against {a['setting_s']:.0f} s.")
    return lines


def zoo_table(profile: str) -> pd.DataFrame:
    """One row per role of the zoo: each profile's default backend, all registered names, and what the default
    of ``profile`` is (its description)."""
    from .. import zoo

    return pd.DataFrame([{"role": role, **{f"{p} default": zoo.PROFILES[p][role] for p in zoo.PROFILES},
                          "all registered": ", ".join(names),
                          f"{profile}: what it is": zoo.resolve(role, profile=profile).description}
                         for role, names in zoo.list_backends().items()]).set_index("role")


def reproduction_findings(table: pd.DataFrame) -> list[str]:
    """Markdown bullets on a ``comparison_table`` of LGCLIP: how many paper numbers our paper-profile runs cover,
    ours minus the paper where both exist, and offline LGCLIP against offline text zero-shot."""
    n_paper = int(table[PAPER_COL].notna().sum())
    both = table.dropna(subset=[PAPER_COL, OURS_PAPER_COL])
    lines = [f"* The paper's table has **{n_paper}** numbers for these methods; our paper-profile runs cover "
             f"**{len(both)}** of them."]
    if len(both):
        d = both["ours (paper profile) - paper"]
        lines.append(f"* Where both exist, ours minus the paper: mean {d.mean():+.2f} points, range "
                     f"[{d.min():+.2f}, {d.max():+.2f}].")
    else:
        lines.append("* No paper-profile run exists yet, so no paper number is checked here; `how_to_run` gives the "
                     "GPU commands.")
    off = table.dropna(subset=[OURS_OFFLINE_COL]).groupby("method")[OURS_OFFLINE_COL].mean()
    if {"lgclip", "text_zero_shot"} <= set(off.index):
        verdict = "above" if off["lgclip"] > off["text_zero_shot"] else "below"
        lines.append(f"* Offline, LGCLIP reaches {off['lgclip']:.2f}% and is {verdict} the offline text zero-shot "
                     f"baseline ({off['text_zero_shot']:.2f}%), measured on the same test images.")
    return lines


def provenance(files: pd.DataFrame) -> pd.DataFrame:
    """Profile, dataset and environment from the manifest of every found file of ``expected_files``."""
    rows = []
    for f in files[files.status == "found"].file:
        data = json.loads(repo_path(f).read_text())
        rows.append({"file": f, "profile": data.get("profile", "?"), "dataset": data.get("dataset", "?"),
                     "environment": (data.get("manifest") or {}).get("environment", {})})
    return pd.DataFrame(rows, columns=["file", "profile", "dataset", "environment"])


# ------------------------------------------------------------------------------ the offline grid
def _iv(a: dict[str, float], signed: bool = False) -> str:
    """An interval in percent (points when ``signed``): estimate [low, high]."""
    f = "{:+.1f}" if signed else "{:.1f}"
    return f"{f.format(100 * a['estimate'])} [{f.format(100 * a['low'])}, {f.format(100 * a['high'])}]"


def grid_table(summary: dict[str, Any], methods: Iterable[str] | None = None) -> pd.DataFrame:
    """One row per grid cell: the paper's methods as 'accuracy [95 % interval]' in percent, the real-image
    references (they read labels) and the run's settings."""
    from ..experiments.grid import GRID_METHODS, GRID_REFERENCES

    methods = list(methods or GRID_METHODS)
    rows = []
    for c in summary["cells"].values():
        rows.append({"dataset": c["dataset"], "backbone": c["backbone"], "input px": c["input_size"],
                     "test images": c["n_test"], **{m: _iv(c["accuracy"][m]) for m in methods},
                     **{f"{m} (real labels)": f"{100 * c['references'][m]:.1f}" for m in GRID_REFERENCES},
                     "seconds": round(c["seconds"])})
    return pd.DataFrame(rows)


def grid_effects_table(summary: dict[str, Any]) -> pd.DataFrame:
    """One row per cell, one column per effect: the paired difference in points with its 95 % interval."""
    from ..experiments.grid import MULTISCALE_EFFECT

    rows = []
    for c in summary["cells"].values():
        rows.append({"dataset": c["dataset"], "backbone": c["backbone"],
                     **{name: _iv(e, signed=True) for name, e in c["effects"].items()},
                     "multi-scale subset": c["effects"][MULTISCALE_EFFECT[0]]["n"]})
    return pd.DataFrame(rows)


def grid_findings(summary: dict[str, Any]) -> list[str]:
    """Markdown bullets computed from the grid's cells: for each effect, in how many cells its interval lies
    above zero, below zero or across it, with the range of estimates (nothing typed)."""
    cells = list(summary["cells"].values())
    if not cells:
        return ["* no grid cell is done yet: run `lgclip reproduce grid`"]
    lines = []
    for name in cells[0]["effects"]:
        es = [(c, c["effects"][name]) for c in cells]
        up = [f"{c['dataset']}/{c['backbone'].replace('efficientnet-', '')}" for c, e in es if e["low"] > 0]
        down = [f"{c['dataset']}/{c['backbone'].replace('efficientnet-', '')}" for c, e in es if e["high"] < 0]
        lo, hi = min(e["estimate"] for _, e in es), max(e["estimate"] for _, e in es)
        where = "; ".join(part for part in (f"above: {', '.join(up)}" if up else "",
                                            f"below: {', '.join(down)}" if down else "") if part)
        n_open = len(es) - len(up) - len(down)
        lines.append(f"* **{es[0][1]['what']}** (`{name}`): {100 * lo:+.1f} to {100 * hi:+.1f} points across the "
                     f"{len(es)} cells; the 95 % interval is above zero in {len(up)}, below zero in {len(down)} and "
                     f"spans zero in {n_open}" + (f" ({where})" if where else "") + ".")
    if summary["missing"]:
        lines.append(f"* not done yet: {', '.join(summary['missing'])} (`lgclip reproduce grid` runs them)")
    return lines
