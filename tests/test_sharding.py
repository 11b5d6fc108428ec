"""Generation and feature extraction under ``accelerate launch`` with 2 CPU processes give exactly the arrays of
one process, and each process computes only its share of the chunks (the rest it reads from the shared cache).

Runs the real ``accelerate launch`` CLI (gloo over loopback) on the tiny profile: mechanics only.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = r'''
import json, os, sys
import numpy as np
from lgclip_core import zoo
from lgclip_core.cache import ArtifactCache, process_state
from lgclip_core.experiments.common import cached_features
from lgclip_core.generator import generate_images
from lgclip_core.multiscale import MultiScaleEncoder

out = sys.argv[1]
rank, world, _ = process_state()
cache = ArtifactCache(os.path.join(out, "cache"))
prompts = [f"a {c} shape number {i}" for c in ("red", "blue", "green") for i in range(4)]
images = generate_images(zoo.load("generator", profile="tiny"), prompts, list(range(len(prompts))), cache=cache,
                         chunk=2, progress=False)
gen_misses = cache.misses
ms = MultiScaleEncoder(zoo.load("image_encoder", profile="tiny"), n_scales=3, seed=5)
feats = cached_features(cache, {"kind": "multiscale-test", "ms": ms.config()}, images,
                        lambda x, i: ms.encode_per_scale(x, start_index=i).transpose(1, 0, 2), chunk=4,
                        progress=False)
np.savez(os.path.join(out, f"rank{rank}.npz"), images=images, feats=feats)
with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
    json.dump({"world": world, "generation_chunks_built": gen_misses,
               "feature_chunks_built": cache.misses - gen_misses}, f)
'''


def _run(args: list[str], out: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([*args, str(out)], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]


@pytest.mark.skipif(shutil.which("accelerate", path=str(Path(sys.executable).parent)) is None,
                    reason="accelerate's launcher is not installed next to this Python")
def test_two_processes_give_the_arrays_of_one(tmp_path: Path) -> None:
    script = tmp_path / "shard.py"
    script.write_text(SCRIPT)
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    _run([sys.executable, str(script)], one)
    launcher = str(Path(sys.executable).parent / "accelerate")
    _run([launcher, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
          "--dynamo_backend", "no", "--main_process_port", "29517", str(script)], two)

    ref = np.load(one / "rank0.npz")
    solo = json.loads((one / "rank0.json").read_text())
    assert solo == {"world": 1, "generation_chunks_built": 6, "feature_chunks_built": 3}
    built = {"generation_chunks_built": 0, "feature_chunks_built": 0}
    for rank in (0, 1):
        got = np.load(two / f"rank{rank}.npz")
        np.testing.assert_array_equal(got["images"], ref["images"])
        np.testing.assert_allclose(got["feats"], ref["feats"], rtol=0, atol=1e-6)
        info = json.loads((two / f"rank{rank}.json").read_text())
        assert info["world"] == 2
        # each process builds only its share: chunks j with j % 2 == rank (6 image chunks, 3 feature chunks)
        assert info["generation_chunks_built"] == 3
        assert info["feature_chunks_built"] == (2 if rank == 0 else 1)
        for k in built:
            built[k] += info[k]
    assert built == {"generation_chunks_built": 6, "feature_chunks_built": 3}
