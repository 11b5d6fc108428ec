#!/usr/bin/env python
"""Benchmark of LGCLIP's feature extraction: three ratios measured in one run, written to a JSON file.

    .venv/bin/python bench/bench_lgclip.py                  # -> bench/results/lgclip_bench.json (~1 min on 2 cores)
    .venv/bin/python bench/bench_lgclip.py --n-images 512 --repeats 5 --out /tmp/bench.json

1. multi-scale extraction: all S scales of a batch in one forward pass (``MultiScaleEncoder(batched=True)``)
   against a loop with one pass per scale (``batched=False``), on the same images; the features must agree.
2. encoder throughput (images/s) at two input sizes (default 112 and 224 px) and their ratio.
3. cache: computing one feature chunk (``cached_features`` on an empty cache, i.e. compute + write) against
   reading the same chunk back (a hit), and the pure compute time for reference.
4. memory layout (EfficientNet-Lite only): the tower's forward pass in channels-last (the package's default)
   against the NCHW layout, on the same batch; the features must agree.
5. precision: the encoder in fp32 against bf16 autocast on the same images (speed-up and feature cosine), and the
   multi-scale path's encoder passes per second as a fraction of the bare encoder's images per second.
6. backend: the encoder's compiled AOTInductor package ("inductor") against eager, both at the automatic
   precision (best-of speed-up, a sustained multi-scale pass over every image, feature cosine, and the seconds
   of the first call, which loads the package or builds it).

Every timing is the best of ``--repeats`` runs after one warm-up run (the minimum is the least disturbed by
other processes). Ratios are computed from numbers measured in this one process, on this one machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def best_of(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """(minimum wall time over ``repeats`` calls after one warm-up call, the last call's result)."""
    out = fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from lgclip_core import zoo
    from lgclip_core.cache import ArtifactCache
    from lgclip_core.encoders import to_float_batch
    from lgclip_core.experiments.common import cached_features
    from lgclip_core.multiscale import MultiScaleEncoder

    torch.manual_seed(args.seed)
    ds = zoo.load("dataset", args.dataset, args.profile, split="test")
    images = ds.stratified(max(1, args.n_images // len(ds.classnames)), seed=args.seed).images
    n = len(images)
    encoder = zoo.load("image_encoder", args.backbone, args.profile)
    base_size = encoder.input_size
    result: dict[str, Any] = {
        "what": "LGCLIP feature extraction: batched vs looped multi-scale, throughput per input size, cache",
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "dataset": ds.name, "n_images": n, "encoder": encoder.config(), "repeats": args.repeats,
        "timing": "best of repeats after one warm-up, seconds",
        "machine": {"load_average": os.getloadavg(), "platform": platform.platform(),
                    "python": platform.python_version(),
                    "torch": torch.__version__, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "device": "cuda" if torch.cuda.is_available() else "cpu"},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }

    # 1. batched vs per-scale loop
    ms_b = MultiScaleEncoder(encoder, args.n_scales, seed=args.seed, batched=True)
    ms_l = MultiScaleEncoder(encoder, args.n_scales, seed=args.seed, batched=False)
    t_b, f_b = best_of(lambda: ms_b.encode_per_scale(images, batch_size=args.batch_size), args.repeats)
    t_l, f_l = best_of(lambda: ms_l.encode_per_scale(images, batch_size=args.batch_size), args.repeats)
    max_diff = float(np.abs(f_b - f_l).max())
    assert max_diff < 1e-4, f"batched and looped multi-scale features differ by {max_diff}"
    result["multiscale"] = {"n_scales": args.n_scales, "batch_size": args.batch_size, "batched_s": t_b,
                            "per_scale_loop_s": t_l, "speedup_batched_vs_loop": t_l / t_b,
                            "max_abs_feature_difference": max_diff,
                            "encoder_passes_per_second_batched": n * args.n_scales / t_b}

    # 2. throughput per input size
    sizes: dict[str, Any] = {}
    for size in args.sizes:
        t, _ = best_of(lambda size=size: encoder.encode(images, batch_size=args.batch_size, size=size), args.repeats)
        sizes[str(size)] = {"seconds": t, "images_per_s": n / t}
    a, b = (str(s) for s in args.sizes[:2])
    result["input_size"] = {"per_size": sizes, "ratio": f"images/s at {a} px / images/s at {b} px",
                            "throughput_ratio": sizes[a]["images_per_s"] / sizes[b]["images_per_s"]}

    # 3. cache: compute + write (miss) vs read back (hit)
    what = {"kind": "multiscale-bench", "ms": ms_b.config()}

    def compute(x: Any, i: int) -> np.ndarray:
        return ms_b.encode_per_scale(x, batch_size=args.batch_size, start_index=i).transpose(1, 0, 2)

    miss_times, hit_times = [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            cache = ArtifactCache(tmp)
            t0 = time.perf_counter()
            first = cached_features(cache, what, images, compute, chunk=n, progress=False)
            miss_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            again = cached_features(cache, what, images, compute, chunk=n, progress=False)
            hit_times.append(time.perf_counter() - t0)
            assert (cache.misses, cache.hits) == (1, 1) and np.array_equal(first, again)
            chunk_bytes = sum(p.stat().st_size for p in Path(tmp).rglob("*.safetensors"))
    result["cache"] = {"chunk_images": n, "chunk_bytes": chunk_bytes, "compute_only_s": t_b,
                       "miss_compute_and_write_s": min(miss_times), "hit_read_s": min(hit_times),
                       "speedup_hit_vs_miss": min(miss_times) / min(hit_times)}
    # 4. channels-last (the default) vs NCHW
    if hasattr(encoder, "model") and "layout" in encoder.config():
        x = encoder.normalize(to_float_batch(images[:args.batch_size], base_size))

        def forward(fmt: torch.memory_format) -> Any:
            with torch.inference_mode():
                return encoder.model.forward_features(x.contiguous(memory_format=fmt)).contiguous()

        try:
            encoder.model.to(memory_format=torch.contiguous_format)
            t_nchw, f_nchw = best_of(lambda: forward(torch.contiguous_format), args.repeats)
        finally:
            encoder.model.to(memory_format=torch.channels_last)
        t_cl, f_cl = best_of(lambda: forward(torch.channels_last), args.repeats)
        result["layout"] = {"batch": len(x), "nchw_s": t_nchw, "channels_last_s": t_cl,
                            "speedup_channels_last_vs_nchw": t_nchw / t_cl,
                            "max_abs_feature_difference": float((f_cl - f_nchw).abs().max())}
    # 5. precision: fp32 against bf16 autocast, the bare encoder on the same images; and the multi-scale path
    #    (crops + encoder, the faster of batched and loop) against the bare encoder at the automatic precision
    from lgclip_core.precision import native_bf16

    precisions: dict[str, Any] = {"native_bf16": native_bf16(), "automatic": encoder.precision}
    backend = zoo.resolve("image_encoder", args.backbone, args.profile)
    feats = {}
    if backend.accepts("precision"):  # one encoder per precision (the shared one is left as it is)
        for p in ("fp32", "bf16"):
            other = zoo.load("image_encoder", args.backbone, args.profile, precision=p)
            t, feats[p] = best_of(lambda other=other: other.encode(images, batch_size=args.batch_size), args.repeats)
            precisions[p] = {"seconds": t, "images_per_s": n / t}
    if feats:
        cos = (feats["fp32"] * feats["bf16"]).sum(1)
        precisions.update(
            bf16_vs_fp32_speedup=precisions["bf16"]["images_per_s"] / precisions["fp32"]["images_per_s"],
            min_feature_cosine_bf16_fp32=float(cos.min()), mean_feature_cosine_bf16_fp32=float(cos.mean()))
    result["precision"] = precisions
    # 6. backend: eager against the compiled package (inductor), same images and precision
    if backend.accepts("backend"):
        backends: dict[str, Any] = {"automatic": getattr(encoder, "backend", "eager")}
        for name in ("eager", "inductor"):
            other = zoo.load("image_encoder", args.backbone, args.profile, backend=name)
            t0 = time.perf_counter()
            other.encode(images[:1], batch_size=args.batch_size)  # inductor: loads (or builds) the package
            first = time.perf_counter() - t0
            t, feats[name] = best_of(lambda other=other: other.encode(images, batch_size=args.batch_size),
                                     args.repeats)
            # sustained: one timed multi-scale pass over every image (what `lgclip reproduce` does at length);
            # best-of-repeats on short calls flatters eager, whose best calls are far above its average
            ms = MultiScaleEncoder(other, 10, seed=args.seed)
            t0 = time.perf_counter()
            ms.encode_per_scale(images, batch_size=args.batch_size)
            sustained = 10 * n / (time.perf_counter() - t0)
            backends[name] = {"seconds": t, "images_per_s": n / t, "first_call_s": first,
                              "multiscale_sustained_passes_per_s": sustained}
        cos = (feats["eager"] * feats["inductor"]).sum(1)
        speedup = backends["inductor"]["images_per_s"] / backends["eager"]["images_per_s"]
        sustained_speedup = (backends["inductor"]["multiscale_sustained_passes_per_s"]
                             / backends["eager"]["multiscale_sustained_passes_per_s"])
        backends.update(inductor_vs_eager_speedup=speedup, inductor_vs_eager_multiscale_sustained=sustained_speedup,
                        min_feature_cosine_inductor_eager=float(cos.min()))
        result["backend"] = backends
    bare = sizes[str(base_size)]["images_per_s"] if str(base_size) in sizes else \
        n / best_of(lambda: encoder.encode(images, batch_size=args.batch_size), args.repeats)[0]
    ms_rate = result["multiscale"]["n_scales"] * n / min(t_b, t_l)
    result["multiscale"]["encoder_passes_per_second_best"] = ms_rate
    result["multiscale"]["fraction_of_bare_encoder_throughput"] = ms_rate / bare

    result["summary"] = {
        "multiscale_batched_vs_loop_speedup": result["multiscale"]["speedup_batched_vs_loop"],
        f"throughput_{a}px_vs_{b}px": result["input_size"]["throughput_ratio"],
        "cache_hit_vs_compute_speedup": result["cache"]["speedup_hit_vs_miss"],
        "multiscale_vs_bare_encoder_throughput": result["multiscale"]["fraction_of_bare_encoder_throughput"],
    }
    if "bf16_vs_fp32_speedup" in result["precision"]:
        result["summary"]["bf16_vs_fp32_speedup"] = result["precision"]["bf16_vs_fp32_speedup"]
    if "backend" in result:
        result["summary"]["inductor_vs_eager_speedup"] = result["backend"]["inductor_vs_eager_speedup"]
        result["summary"]["inductor_vs_eager_multiscale_sustained"] = \
            result["backend"]["inductor_vs_eager_multiscale_sustained"]
    if "layout" in result:
        result["summary"]["channels_last_vs_nchw_speedup"] = result["layout"]["speedup_channels_last_vs_nchw"]
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--profile", default="offline")
    ap.add_argument("--dataset", default=None, help="dataset in the zoo (default: the profile's)")
    ap.add_argument("--backbone", default=None, help="image encoder in the zoo (default: the profile's)")
    ap.add_argument("--n-images", type=int, default=200, help="real test images (stratified)")
    ap.add_argument("--n-scales", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--sizes", type=int, nargs=2, default=[112, 224], help="two encoder input sizes")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "lgclip_bench.json")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    result = run(args)
    result["bench_wall_s"] = round(time.perf_counter() - t0, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    for k, v in result["summary"].items():
        print(f"{k:<40} {v:8.2f}x")
    print(f"wrote {args.out} in {result['bench_wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
