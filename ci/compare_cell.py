"""CI: a grid cell re-run from a cold cache must give the committed cell's numbers.

    python ci/compare_cell.py NEW_DIR COMMITTED_DIR [--images 2]

Compares the paper's methods image by image (``per_image.npz``) and the accuracies in ``lgclip.json``; at most
``--images`` test images may change their prediction per method (float summation order can differ between
CPUs), and the script says which methods moved. Exit 1 on a larger difference.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from lgclip_core.experiments.grid import GRID_METHODS
from lgclip_core.experiments.lgclip import PER_IMAGE


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("new")
    p.add_argument("committed")
    p.add_argument("--images", type=int, default=2, help="test images per method allowed to change")
    args = p.parse_args()
    new, old = Path(args.new), Path(args.committed)
    with np.load(new / PER_IMAGE) as a, np.load(old / PER_IMAGE) as b:
        if not np.array_equal(a["labels"], b["labels"]):
            print(f"compare_cell: {new} and {old} were run on different test images")
            return 1
        changed = {m: int((a[m] != b[m]).sum()) for m in GRID_METHODS}
    acc_new = json.loads((new / "lgclip.json").read_text())["accuracy"]
    acc_old = json.loads((old / "lgclip.json").read_text())["accuracy"]
    for m in GRID_METHODS:
        print(f"{m:<18} committed {acc_old[m]:.4f}  re-run {acc_new[m]:.4f}  images changed {changed[m]}")
    bad = [m for m, n in changed.items() if n > args.images]
    if bad:
        print(f"compare_cell: {', '.join(bad)} changed on more than {args.images} test images", file=sys.stderr)
        return 1
    print(f"compare_cell: {new} reproduces {old}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
