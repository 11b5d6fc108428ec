"""`lgclip reproduce lgclip|t2ipal`: the only place that wires roles together into a results JSON."""

from __future__ import annotations

import argparse
import importlib

PAPERS = {"lgclip": "lgclip_core.experiments.lgclip", "t2ipal": "lgclip_core.experiments.t2ipal"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="paper", required=True)
    for name, module in PAPERS.items():
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name == module:
                continue
            raise
        sp = sub.add_parser(name, help=(mod.__doc__ or "").strip().splitlines()[0])
        mod.add_arguments(sp)
        sp.set_defaults(_paper_run=mod.run)


def run(args: argparse.Namespace) -> int:
    return int(args._paper_run(args) or 0)
