"""`lgclip reproduce lgclip|t2ipal|grid`: the only place that wires roles together into a results JSON."""

from __future__ import annotations

import argparse

PAPERS = {"lgclip": ("lgclip_core.experiments.lgclip", "reproduce LGCLIP (zero-shot classification)"),
          "t2ipal": ("lgclip_core.experiments.t2ipal", "reproduce T2I-PAL (multi-label recognition)"),
          "grid": ("lgclip_core.experiments.grid", "the offline LGCLIP table: every offline data set x backbone "
                                                   "(missing cells only, resumable)")}


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..cli import add_subcommands, current_argv

    argv = current_argv()
    rest = argv[argv.index("reproduce") + 1:] if "reproduce" in argv else []
    add_subcommands(p.add_subparsers(dest="paper", required=True), PAPERS, rest, dest="_paper_run")


def run(args: argparse.Namespace) -> int:
    return int(args._paper_run(args) or 0)
