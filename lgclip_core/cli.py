"""The ``lgclip`` command. Each subcommand lives in the module of its role; this file only dispatches.

Only the module of the subcommand being run is imported (torch, diffusers and open_clip take seconds to
import), so a mistake in the arguments is reported in well under a second of work.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

# subcommand -> (module that defines add_arguments(parser) and run(args), one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "assets": ("lgclip_core.assets_check", "check and print every offline asset"),
    "train-generator": ("lgclip_core.generator.training", "train the offline text-to-image generator"),
    "eval-generator": ("lgclip_core.experiments.generator", "measure the offline generator (CAS, FD, throughput)"),
    "measure-efficiency": ("lgclip_core.experiments.efficiency",
                           "measure chapter 07's costs (size, memory, speed, multi-scale, generation)"),
    "reproduce": ("lgclip_core.experiments", "reproduce a paper: `lgclip reproduce lgclip|t2ipal ...`"),
    "assignments": ("lgclip_core.book.assignments", "course assignments on nbgrader: release, grade a class"),
    "hub-fixture": ("lgclip_core.hub_fixture", "write a local hub (pinned snapshots, random weights) to test the "
                                               "paper profile offline"),
}


_ARGV: list[str] = []  # the arguments being parsed, for nested subcommands (``lgclip reproduce lgclip ...``)


def current_argv() -> list[str]:
    return list(_ARGV)


def chosen(argv: Sequence[str], names: Sequence[str]) -> str | None:
    """The subcommand named in ``argv`` (its first word that is not an option), if it is one of ``names``."""
    first = next((a for a in argv if not a.startswith("-")), None)
    return first if first in names else None


def add_subcommands(sub: argparse._SubParsersAction, commands: dict[str, tuple[str, str]], argv: Sequence[str],
                    dest: str = "_run") -> None:
    """A parser per command; only the chosen command's module is imported and asked for its arguments."""
    name = chosen(argv, list(commands))
    for cmd, (module, help_) in commands.items():
        p = sub.add_parser(cmd, help=help_, description=help_)
        if cmd == name:
            mod = importlib.import_module(module)
            mod.add_arguments(p)
            p.set_defaults(**{dest: mod.run})


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    argv = sys.argv[1:] if argv is None else list(argv)
    _ARGV[:] = argv
    parser = argparse.ArgumentParser(prog="lgclip", description="Synthetic images as class prototypes.")
    sub = parser.add_subparsers(dest="command", required=True)
    add_subcommands(sub, COMMANDS, argv)
    args = parser.parse_args(argv)
    from .errors import LGCLIPError

    try:
        return int(args._run(args) or 0)
    except LGCLIPError as exc:
        print(f"lgclip {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # python -m lgclip_core.cli: run the package's module (nested commands read its argv)
    from lgclip_core.cli import main as _main

    sys.exit(_main())
