# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Ablations: what each design choice of LGCLIP is worth
#
# Chapter 05's run measured more than its headline numbers: its `ablations` vary the number N of generated
# images per class, the prompt mode, the number of crop scales, the encoder's input size, and the weight of
# image prototypes against text zero-shot in the hybrid. Each ablation changes one thing and keeps the test
# images, seeds and everything else fixed. This chapter runs nothing: it reads the results file of that run.

# %% tags=["remove-cell"]
# !python -c "import google.colab" 2>/dev/null && pip install -q git+https://github.com/lgclip-book/lgclip-book
from lgclip_core.book import colab

IN_COLAB = colab.setup()  # Colab: asset packages + a clone of the repository; elsewhere nothing

# %% [markdown]
# ## Parameters
#
# `RESULTS_JSON` is the `lgclip.json` chapter 05 wrote (its `OUT_DIR`, relative to `notebooks/`); when that
# chapter has not run here, the full-size results committed in `results/offline/lgclip.json` (written by
# `lgclip reproduce lgclip --out results/offline`) are shown instead.

# %% tags=["parameters"]
RESULTS_JSON = "results/lgclip/lgclip.json"  # an lgclip.json written by chapter 05 or `lgclip reproduce lgclip`
FRONTIER_RUNS = ["results/offline/lgclip.json"] + [f"results/offline/frontier/{name}/lgclip.json" for name in
                                                  ("112px-10scales", "112px-1scale", "224px-1scale",
                                                   "224px-10scales", "fp32-112px")]  # other settings

# %%
from lgclip_core.params import validate_parameters

_ = validate_parameters(globals())  # a wrong value stops here, in seconds, with one line naming it

# %%
import json
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown, display

from lgclip_core.book import figures, report
from lgclip_core.book.report import repo_path

source = RESULTS_JSON if Path(RESULTS_JSON).exists() else "results/offline/lgclip.json"  # as the reader sees it
result = json.loads((Path(source) if source == RESULTS_JSON else repo_path(source)).read_text())
abl, acc = result["ablations"], result["accuracy"]
print(f"read {source}: {result['dataset']}, {result['n_test']} test images, backbone {result['backbone']}, "
      f"N = {result['n_per_class']}")


def line(ax: plt.Axes, series: dict[str, dict[str, float]], xlabel: str, title: str, log: bool = False) -> None:
    """One line per series over the ablation's keys (numbers stored as strings in the JSON)."""
    df = pd.DataFrame(series)
    df.index = df.index.astype(float)
    df = df.sort_index()
    df.plot(ax=ax, marker="o", logx=log, xticks=df.index, grid=True)
    ax.set(xlabel=xlabel, ylabel="top-1 accuracy", title=title)

# %% [markdown]
# ## How many images per class?
#
# The prototype of a class is the mean of its first N generated images (images $0..N-1$, seeds $0..N-1$), for
# LGCLIP (LLM first description, multi-scale) and for the plain template at a single view.

# %%
n_abl = abl["n_per_class"]
fig, ax = plt.subplots(figsize=(6.5, 3.6))
line(ax, {m: {n: v[m] for n, v in n_abl.items()} for m in ("lgclip", "prototypes_only")}, "N (log scale)",
     "accuracy vs images per class", log=True)
plt.show()
ns = list(n_abl)
best_n = max(ns, key=lambda n: n_abl[n]["lgclip"])
display(Markdown(
    f"LGCLIP goes from {n_abl[ns[0]]['lgclip']:.1%} with N = {ns[0]} to {n_abl[ns[-1]]['lgclip']:.1%} with "
    f"N = {ns[-1]} ({100 * (n_abl[ns[-1]]['lgclip'] - n_abl[ns[0]]['lgclip']):+.1f} points); its best N here is "
    f"{best_n} ({n_abl[best_n]['lgclip']:.1%}). For reference, one real labelled image per class gives "
    f"{acc['real_1shot']:.1%}."))

# %% [markdown]
# ## Which prompts?
#
# The three prompt modes of chapter 03 — the template, the first LLM description for every image (the paper's
# code), one description per image — each at a single view and with the multi-scale module:

# %%
prompts = pd.DataFrame(abl["prompts"]).T
prompts.columns = [c.replace("_", " ") for c in prompts.columns]
ax = prompts.plot.bar(figsize=(6.5, 3.4), rot=0)
ax.set_ylabel("top-1 accuracy")
ax.set_title("prompt mode × view", fontsize=10)
for cont in ax.containers:
    ax.bar_label(cont, fmt="%.3f", fontsize=7)
plt.tight_layout()
plt.show()
best_mode, best_view = prompts.stack().idxmax()
if result["config"]["n_scales"] == 1:
    scales_text = ("This run used one scale, so its two views are the same image and the same features; the "
                   "next section shows a run with the paper's 10.")
else:
    scales_text = ("The multi-scale module changes accuracy by "
                   + ", ".join(f"{100 * (r['multiscale'] - r['single scale']):+.1f} points ({m.replace('_', ' ')})"
                               for m, r in prompts.iterrows()) + ".")
best = best_mode.replace("_", " ") + ("" if result["config"]["n_scales"] == 1 else f", {best_view}")
display(Markdown(f"The best combination is **{best}** ({prompts.stack().max():.1%}). " + scales_text))

# %% [markdown]
# ## How many scales?
#
# With S' scales the module keeps the S' largest crops ($s = S-S'+1, \dots, S$) with weights proportional to
# $s$; S' = 1 is the full image alone (LLM first description, N as above). A run with one scale has nothing to
# vary here: the curve then comes from the first of `FRONTIER_RUNS` that ran the paper's scales.

# %%
sc, scales_source = abl["n_scales"], source
if len(sc) < 2:
    for run in FRONTIER_RUNS:
        if repo_path(run).exists() and len(json.loads(repo_path(run).read_text())["ablations"]["n_scales"]) > 1:
            sc, scales_source = json.loads(repo_path(run).read_text())["ablations"]["n_scales"], run
            print(f"this run used {result['config']['n_scales']} scale(s); the curve below is {run}'s")
            break
fig, ax = plt.subplots(figsize=(6.5, 3.4))
line(ax, {"lgclip": sc}, "number of scales S' (the largest kept)",
     f"accuracy vs number of scales ({Path(scales_source).parent.name})")
plt.show()
keys = list(sc)
display(Markdown(
    f"One scale (the full image): {sc[keys[0]]:.1%}; all {keys[-1]}: {sc[keys[-1]]:.1%} "
    f"({100 * (sc[keys[-1]] - sc[keys[0]]):+.1f} points); best: S' = {max(sc, key=sc.get)} "
    f"({max(sc.values()):.1%}). Each scale is one more encoder pass per image (chapter 04)."))

# %% [markdown]
# ## Which input size?
#
# The encoder's input resolution, for the template prototypes at a single view, on a stratified subset of
# test images (`ABLATION_SIZE_N_TEST`):

# %%
size = abl["input_size"]
if size:
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    line(ax, {"prototypes only": size}, "encoder input size (pixels)", "accuracy vs input size")
    plt.show()
    display(Markdown(
        f"Accuracy at {', '.join(f'{s} px: {v:.1%}' for s, v in size.items())}. The encoder's default input is "
        f"{result['manifest']['models']['image_encoder'].get('input_size')} px; the cost of a pass grows with "
        f"the square of the size."))
else:
    print("this encoder has a fixed input size: no input-size ablation")

# %% [markdown]
# ## Which guidance scale? Chosen on validation images, not on the test set
#
# Classifier-free guidance trades how typical a generated image is for its class against how varied the
# images are. The run renders LGCLIP's prototypes (N per class) at each guidance scale and scores them on two
# sets: the **validation** images — real *train* images, never part of the test set, the place where a setting
# may be chosen — and the test images, shown only to see whether the choice carries over.

# %%
gs = abl.get("guidance_scale")
if gs:
    guid = pd.DataFrame(gs).T.rename_axis("guidance scale")
    display(guid.style.format("{:.2%}"))
    picked, used = guid["validation"].idxmax(), result["manifest"]["models"]["generator"]["guidance_scale"]
    display(Markdown(
        f"Validation picks guidance **{picked}** ({guid.loc[picked, 'validation']:.1%}); this run used {used}. "
        f"On the test images {picked} gives {guid.loc[picked, 'test']:.1%}, and the test's own best would be "
        f"{guid['test'].idxmax()} ({guid['test'].max():.1%})."))
else:
    print("this run measured no guidance scales (paper settings, or a profile whose generator takes the "
          "protocol's sampling)")

# %% [markdown]
# ## Image prototypes and text together
#
# The hybrid scores a class by $w \cdot z(\text{image-prototype similarity}) + (1-w) \cdot z(\text{text
# similarity})$, with per-image z-scores; $w = 0$ is text zero-shot alone, $w = 1$ LGCLIP alone. This goes
# beyond the paper: it asks whether synthetic prototypes *add* to the text classifier they are meant to replace.

# %%
hw = abl["hybrid_weight"]
fig, ax = plt.subplots(figsize=(6.5, 3.4))
line(ax, {"hybrid": hw}, "image weight w (0: text only, 1: image prototypes only)", "accuracy vs hybrid weight")
plt.show()
w_best = max(hw, key=hw.get)
text_only, image_only = hw[min(hw, key=float)], hw[max(hw, key=float)]
display(Markdown(
    f"Text only: {text_only:.1%}; image prototypes only: {image_only:.1%}; best mix: w = {w_best} "
    f"({hw[w_best]:.1%}, {100 * (hw[w_best] - max(text_only, image_only)):+.1f} points over the better "
    f"single source)."))

# %% [markdown]
# ## Unlabelled real images: how many pseudo-labels to trust?
#
# Beyond the paper. The hybrid labels a pool of real *train* images whose labels are never read; a logistic
# regression then learns from the most confident fraction of each class (`PseudoLabelClassifier`). Few kept
# images are mostly right but say little; all of them carry the hybrid's mistakes. The fraction is measured on
# the validation images (where it may be chosen) and on the test images:

# %%
st = abl.get("self_training_fraction")
if st:
    frac = pd.DataFrame(st).T.rename_axis("fraction kept")
    display(frac.style.format("{:.2%}"))
    best, used = frac["validation"].idxmax(), result["self_training"]["confident_fraction"]
    display(Markdown(
        f"Validation picks {float(best):.0%} ({frac.loc[best, 'validation']:.1%}); the run keeps {used:.0%} and "
        f"reaches {acc['hybrid_self_trained']:.1%} on the test images, against {acc['hybrid']:.1%} for the "
        f"hybrid whose pseudo-labels it learns from."))
else:
    print("this run did no self-training (UNLABELED_POOL = 0)")

# %% [markdown]
# ## What each setting costs: accuracy against time
#
# The costliest settings (input size, crop scales, encoder precision) were also run in full on all test images,
# with the paper's N = 10 and the generator's own guidance:
# `lgclip reproduce lgclip --settings paper --input-size PX --n-scales S --out results/offline/frontier/NAME`
# (the fp32 reference: `LGCLIP_ENCODER_PRECISION=fp32 LGCLIP_ENCODER_BACKEND=eager`); the first row is the
# default run, with the offline profile's settings. A point's time is the part of its run that depends on the
# setting (all but loading models and writing prompts, which every setting shares; images are generated once
# per N and guidance and then read from the cache), on 2 CPU cores at the load shown.

# %%
front = report.frontier_table(FRONTIER_RUNS)
if front.empty:
    print("no frontier runs yet: see the commands above")
else:
    rows = [{"method": m, "setting_s": r["setting_s"], "accuracy": r[m],
             "setting": f"{r['input_px']}px/{r['scales']}s/N{r['N']}/g{r['guidance']}/{r['precision']}"}
            for _, r in front.iterrows() for m in ("lgclip", "hybrid", "text_zero_shot") if pd.notna(r[m])]
    figures.speed_quality_curve(rows, x="setting_s", y="accuracy", hue="method", label="setting",
                                title="accuracy vs seconds of the run (labels: input px / scales / N / guidance / "
                                      "precision)")
    plt.show()
    display(front.drop(columns="run").round(4))
    display(Markdown("\n".join(report.multiscale_findings(front))))

# %% [markdown]
# ## Where these numbers come from
#
# The run that wrote the file, stage by stage (seconds), and the cache it used; nothing was computed here.

# %%
display(pd.Series(result["timings_s"], name="seconds").to_frame())
cache = result["manifest"]["cache"]
print(f"cache: {cache['hits']} hits, {cache['misses']} misses in that run")
