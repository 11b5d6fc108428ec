"""The ``lgclip`` command. Each subcommand lives in the module of its role; this file only dispatches."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# subcommand -> (module, function that adds arguments, function that runs); modules are imported lazily.
COMMANDS: dict[str, tuple[str, str]] = {
    "assets": ("lgclip_core.assets_check", "check and print every offline asset"),
    "train-generator": ("lgclip_core.generator_training", "train the offline text-to-image generator"),
    "eval-generator": ("lgclip_core.generator_eval", "measure the offline generator (CAS, FD, throughput)"),
    "reproduce": ("lgclip_core.experiments", "reproduce a paper: `lgclip reproduce lgclip|t2ipal ...`"),
    "book": ("lgclip_core.book", "execute the notebooks and build the book"),
    "assignments": ("lgclip_core.assignments", "course assignments on nbgrader: release, grade a class"),
}


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    parser = argparse.ArgumentParser(prog="lgclip", description="Synthetic images as class prototypes.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name == module:
                continue
            raise
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    args = parser.parse_args(argv)
    if not hasattr(args, "_run"):
        parser.error(f"'{args.command}' is not available in this version")
    from .errors import LGCLIPError

    try:
        return int(args._run(args) or 0)
    except LGCLIPError as exc:
        print(f"lgclip {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
