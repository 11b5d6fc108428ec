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
# # Differences from the authors' code
#
# "I got 41, the paper says 48" is the most common question in the issue trackers of projects like this one.
# The answer is almost always a choice nobody wrote down: a resize mode, a normalisation, a split file. This
# page lists every such choice we know of between the authors' released code and ours, for both papers.
#
# Each row is one entry of `lgclip_core.protocols`, the single registry that the code itself reads:
#
# * `protocol="authors"` does what the authors' released code does (LGCLIP: github DianxingShi/LG-CLIP;
#   T2I-PAL has no released code, so its rows refer to TaI-DPT, the code it builds on, and the CLIP-Adapter
#   and ML-GCN conventions TaI-DPT inherits);
# * `protocol="clean"` does what we believe is better, for the reason given in the row.
#
# Every results file names its protocol and lists the value of each choice in its manifest, so a number can
# always be traced to the choices that produced it. Rows marked *adopted* are choices where we follow the
# authors; they are listed because a reader comparing numbers needs them too.

# %% tags=["remove-cell"]
# !python -c "import google.colab" 2>/dev/null && pip install -q git+https://github.com/lgclip-book/lgclip-book
from lgclip_core.book import colab

IN_COLAB = colab.setup()  # Colab: asset packages + a clone of the repository; elsewhere nothing

# %% [markdown]
# ## Parameters

# %% tags=["parameters"]
RESULTS_DIR = "results"  # the repository's results folder (offline/ and paper/<run>/), relative to its root

# %%
from lgclip_core.params import validate_parameters

_ = validate_parameters(globals())  # a wrong value stops here, in seconds, with one line naming it

# %%
import json

import pandas as pd
from IPython.display import Markdown, display

from lgclip_core import protocols
from lgclip_core.book import report

pd.set_option("display.max_colwidth", 200)

# %% [markdown]
# ## The registry
#
# One table per paper. *Status* says whether the two protocols differ on the row.

# %%
for paper, title in (("lgclip", "LGCLIP"), ("t2ipal", "T2I-PAL")):
    rows = pd.DataFrame(protocols.table(paper)).drop(columns=["paper"])
    counts = rows.status.value_counts()
    display(Markdown(f"### {title}: {len(rows)} choices: {counts.get('protocol choice', 0)} differ between the "
                     f"protocols, {counts.get('kept (both protocols)', 0)} differences from the authors are kept "
                     f"under both, {counts.get('adopted from the authors', 0)} adopted"))
    display(rows.style.hide(axis="index"))

# %% [markdown]
# Rows marked *kept (both protocols)* are differences we know of and do not follow even under
# `protocol="authors"`; the *why* column says why, so a reader comparing with the authors' numbers knows where
# the two runs still part.
#
# ## The paper profile's models, pinned
#
# Every hub model of the `paper` profile is loaded at one commit of its repository, never a branch that moves,
# and every results file records the repository and the commit. Stability AI withdrew the whole
# `stabilityai/stable-diffusion-2*` family from the Hugging Face Hub in November 2025, so Stable Diffusion
# 2.1-base, the paper's default generator, comes from a community mirror (`origin` below). If a repository
# disappears or is gated, the run stops with one line naming the backend, the repository, the commit and the
# registered alternatives (e.g. `--generator sd-2-1-base-manojb` or `--generator sd-1-4`). open_clip's `openai`
# weights are built with QuickGELU, the activation they were trained with (open_clip 3.x builds plain GELU for
# `ViT-B-32` unless told), and every image is seeded with a CPU generator, so a seed gives the same noise on any
# device. `lgclip hub-fixture DIR` writes a local hub with these very snapshots (real configs, random weights), on
# which the tests and CI run the paper profile's own loading code offline.

# %%
from lgclip_core import zoo

display(pd.DataFrame([{"backend": name, "repository": h.repo_id, "commit": h.revision,
                       "fallbacks": ", ".join(zoo.HUB_FALLBACKS.get(name, ())), "origin": h.origin or "the original"}
                      for name, h in zoo.HUB_MODELS.items()]).style.hide(axis="index"))

# %% [markdown]
# ## Which protocol runs by default
#
# The paper profile reproduces the authors. The offline profile runs the protocol that measured better on the
# full Fashion-MNIST test set, both with the paper's settings (N = 10, 10 scales); both numbers are in
# `results/offline/frontier/112px-10scales/lgclip.json` (below).

# %%
display(pd.DataFrame([{"profile": p, "default protocol": v} for p, v in protocols.DEFAULT_PROTOCOL.items()])
        .style.hide(axis="index"))

# %% [markdown]
# ## What the choices cost: both protocols on the offline profile
#
# `lgclip reproduce lgclip --settings paper --protocol authors` and `--protocol clean` on all 10,000
# Fashion-MNIST test images, into one folder (the second run adds its accuracies to the first one's file).
# Some rows cannot differ offline (our generator is not Stable Diffusion and Fashion-MNIST has no CoOp split);
# the table shows the value each run used.

# %%
folder = f"{RESULTS_DIR}/offline/frontier/112px-10scales"  # the paper's settings, both protocols
path = report.repo_path(folder) / "lgclip.json"
if path.exists():
    result = json.loads(path.read_text())
    by_protocol = result.get("by_protocol", {})
    if by_protocol:
        acc = pd.DataFrame({name: r["accuracy"] for name, r in by_protocol.items()})
        display(Markdown(f"Top-1 accuracy (%) on {result['n_test']:,} test images of {result['dataset']}:"))
        display((100 * acc).round(2))
        choices = pd.DataFrame({name: r["protocol"]["choices"] for name, r in by_protocol.items()})
        display(choices.astype(str))
        models = pd.DataFrame({name: {"encoder": r.get("image_encoder"), "generator": r.get("generator")}
                               for name, r in by_protocol.items()})
        display(Markdown("The models each run used (a run written before the encoder and generator settings "
                         "changed says so here: compare such columns with care):"))
        display(models.astype(str))
    else:
        display(Markdown(f"`{path.name}` was written by a run of one protocol only "
                         f"(`{result.get('protocol', {}).get('name', 'unnamed')}`): run the other with "
                         f"`lgclip reproduce lgclip --settings paper --protocol ... --out {folder}`."))
else:
    display(Markdown(f"No `{folder}/lgclip.json` yet: `lgclip reproduce lgclip --settings paper --out {folder}`."))
