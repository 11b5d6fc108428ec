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
# # Rendering the class prototypes
#
# LGCLIP's second arrow: the generator renders N images per class, and image $i$ of *every* class is drawn
# from seed $i$ {cite}`shi2025lgclip`. This chapter renders the images that chapter 05 classifies with, in the
# three prompt modes the book compares:
#
# * **template** — the paper's prompt without an LLM: "A photo of a {class}." for all N images;
# * **LLM, first description** — what the authors' code does: the first LLM description for all N images;
# * **LLM, one description per image** — image $i$ gets description $i \bmod 10$.
#
# It then checks the two properties that make the images reproducible and cacheable: an image depends only on
# its prompt and its seed, and a cached image is read back instead of being rendered again.

# %% tags=["remove-cell"]
# !python -c "import google.colab" 2>/dev/null && pip install -q git+https://github.com/lgclip-book/lgclip-book
from lgclip_core.book import colab

IN_COLAB = colab.setup()  # Colab: asset packages + a clone of the repository; elsewhere nothing

# %% [markdown]
# ## Parameters

# %% tags=["parameters"]
PROFILE = "auto"  # "offline" | "paper" | "tiny"; "auto": "paper" in Colab with a GPU, otherwise "offline"
N_MAX = None  # images rendered per class and prompt mode (None: chapter 05's, so its run reads them from the cache)
N_SHOWN = 8  # images per class shown in each grid
N_DESCRIPTIONS = 10  # LLM descriptions per class (as in chapter 01, so they are read from the cache)
SEED = 2024  # seed of the LLM descriptions; image i of every class uses seed i
N_REAL = 8  # real test images per class shown for comparison

# %%
from lgclip_core.params import validate_parameters

_ = validate_parameters(globals(), experiment="lgclip")  # a wrong value stops here, in seconds, with one line naming it

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import Markdown, display

from lgclip_core import protocols, zoo
from lgclip_core.book import figures
from lgclip_core.cache import default_cache
from lgclip_core.experiments.lgclip import LGCLIPConfig, load_generator, prompt_sets
from lgclip_core.generator import generate_images
from lgclip_core.prompts import write_prompts

if PROFILE == "auto":
    PROFILE = "paper" if IN_COLAB and torch.cuda.is_available() else "offline"
ds = zoo.load("dataset", None, PROFILE, split="test")
names = ds.prompt_names
k = len(names)
# chapter 05's settings (its N_MAX and the generator's sampling), so that its run finds these images in the cache
run_cfg = LGCLIPConfig(profile=PROFILE, n_max=N_MAX)
N_MAX = run_cfg.n_max
generator = load_generator(run_cfg, protocols.resolve(None, "lgclip", PROFILE))
writer = zoo.load("prompt_writer", None, PROFILE)
print(f"profile {PROFILE}; generator: {generator.config()}")

# %% [markdown]
# ## Prompts and seeds
#
# The prompt of image $i$ of each class, per mode (`experiments.lgclip.prompt_sets`, the function chapter 05's
# experiment uses), and its seed: $i$, the same for every class.

# %%
cache = default_cache()
llm = write_prompts(writer, names, n=N_DESCRIPTIONS, seed=SEED, cache=cache)
sets = prompt_sets(names, llm, N_MAX)
seeds = np.tile(np.arange(N_MAX), k)
pd.set_option("display.max_colwidth", None)
display(pd.DataFrame({mode: rows[0][:3] for mode, rows in sets.items()},
                     index=[f"{names[0]}, image {i} (seed {seeds[i]})" for i in range(min(3, N_MAX))]).T)

# %% [markdown]
# ## Rendering
#
# `generate_images` renders in chunks of one class (N_MAX images) and caches each chunk under a key made of the
# generator's identity (weights hash, steps, guidance), the prompts and the seeds. Timings are measured now; a
# chunk that an earlier run rendered is read from the cache.

# %%
images, timing = {}, {}
for mode, rows in sets.items():
    flat = [p for row in rows for p in row]
    h0, m0 = cache.hits, cache.misses
    t0 = time.perf_counter()
    images[mode] = generate_images(generator, flat, seeds.tolist(), cache=cache, chunk=N_MAX, progress=False)
    timing[mode] = {"images": len(flat), "seconds": round(time.perf_counter() - t0, 2),
                    "chunks rendered": cache.misses - m0, "chunks from cache": cache.hits - h0}
display(pd.DataFrame(timing).T)

# %% [markdown]
# ## The images
#
# First the real test images the prototypes will have to match (never used to build them), one column per
# class. Then the generated ones: rows are classes, columns are seeds $0, 1, \dots$ — a column shares its
# starting noise across classes.

# %%
figures.class_samples(ds.images, ds.labels, names, per_class=N_REAL, seed=SEED, title=f"real {ds.name} test images")
plt.show()
n_show = min(N_SHOWN, N_MAX)
idx = np.concatenate([np.arange(c * N_MAX, c * N_MAX + n_show) for c in range(k)])
titles = {"template": "template: 'A photo of a {class}.'", "llm_first": "LLM, first description for every image",
          "llm_per_image": "LLM, description i for image i"}
for mode in sets:
    figures.image_grid(images[mode][idx], rows=k, labels=names, title=titles[mode])
    plt.show()

# %% [markdown]
# How different are the modes? Pixel statistics over all rendered images (crude but model-free; chapter 06
# measures what matters, the accuracy each mode gives):

# %%
spread = {mode: np.mean([x[c * N_MAX:(c + 1) * N_MAX].astype(np.float32).std(0).mean() for c in range(k)])
          for mode, x in images.items()}
display(pd.DataFrame({"mean intensity": {m: x.mean() for m, x in images.items()},
                      "std across images of a class (mean over pixels)": spread,
                      "distinct images": {m: len({im.tobytes() for im in x}) for m, x in images.items()}})
        .style.format(precision=2))

# %% [markdown]
# ## Same prompt and seed → the same image
#
# The generator gives each image its own `torch.Generator` seeded with that image's seed, so an image cannot
# depend on what else is in its batch. The cell renders a few images again without the cache, alone and in a
# different batch, and compares them with the cached ones; then it times what the cache saves.

# %%
p0, p1 = sets["llm_first"][0][0], sets["llm_first"][k - 1][0]
cached0 = images["llm_first"][0]  # class 0, seed 0
cached1 = images["llm_first"][(k - 1) * N_MAX + 1]  # last class, seed 1
t0 = time.perf_counter()
alone = generator.generate([p0], [0])[0]
t_one = time.perf_counter() - t0
mixed = generator.generate([p1, p0], [1, 0])  # another batch, another order
other_seed = generator.generate([p0], [1])[0]
display(pd.Series({"class 0, seed 0: alone vs cached": np.array_equal(alone, cached0),
                   "class 0, seed 0: in a mixed batch vs cached": np.array_equal(mixed[1], cached0),
                   f"class {k - 1}, seed 1: in a mixed batch vs cached": np.array_equal(mixed[0], cached1),
                   "class 0: seed 1 vs seed 0 (should differ)": np.array_equal(other_seed, cached0)},
                  name="identical").to_frame())

# Then rendering one class's chunk again from scratch against reading the same chunk back from the cache:
chunk_prompts = sets["llm_first"][0]
t0 = time.perf_counter()
fresh = generator.generate(chunk_prompts, list(range(N_MAX)))
t_render = time.perf_counter() - t0
t0 = time.perf_counter()
back = generate_images(generator, chunk_prompts, list(range(N_MAX)), cache=cache, chunk=N_MAX, progress=False)
t_read = time.perf_counter() - t0
assert np.array_equal(back, images["llm_first"][:N_MAX])
display(Markdown(
    f"Rendering {N_MAX} images took **{t_render:.2f} s** ({N_MAX / t_render:.1f} images/s, one image alone "
    f"{t_one:.2f} s); reading the same chunk back took **{t_read * 1000:.1f} ms** — "
    f"{t_render / t_read:.0f}× faster. The freshly rendered chunk equals the cached one: "
    f"{np.array_equal(fresh, back)}."))

# %% [markdown]
# **What to take from this chapter.** The prototype images are a pure function of (generator weights, sampler
# settings, prompt, seed): they can be regenerated bit for bit, shared as a hash, and rendered once. Chapter 04
# turns them — and the real test images — into features.
