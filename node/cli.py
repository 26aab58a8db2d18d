"""The ``orbnode`` command line.

Each package contributes its own sub-commands through a ``register(subparsers)``
function in a small command module, so no module has to know every command.
A sub-command handler returns an exit status; an :class:`OrbnodeError` becomes one
line on stderr and exit status 2, and so does an ``OSError`` (a folder that cannot
be written, a device that vanished): those are the machine's state, not bugs.
Set ``ORBNODE_DEBUG=1`` to get the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import sys

from node.errors import OrbnodeError

# Modules that provide sub-commands, in the order --help lists them.
COMMAND_MODULES = (
    "node.commands",
    "node.flash_commands",
    "firmware_stubs.commands",
    "firmware_stubs.envelope_commands",
    "radiation.commands",
    "radiation.campaign.commands",
    "bench.commands",
)


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the full usage stays in --help)."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def positive(kind=float):
    """argparse type: a finite number > 0."""
    def convert(text: str):
        value = kind(text)
        if not math.isfinite(value) or value <= 0:
            raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
        return value
    convert.__name__ = f"positive {kind.__name__}"
    return convert


def non_negative(kind=float):
    """argparse type: a finite number >= 0."""
    def convert(text: str):
        value = kind(text)
        if not math.isfinite(value) or value < 0:
            raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
        return value
    convert.__name__ = f"non-negative {kind.__name__}"
    return convert


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="orbnode",
        description="Hardware-in-the-loop emulator of an onboard AI compute node.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # package has no commands yet
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for key, value in vars(args).items():  # nan and inf are never a sensible setting
        if isinstance(value, float) and not math.isfinite(value):
            parser.exit(2, f"orbnode {args.command}: error: --{key.replace('_', '-')} must be "
                           f"a finite number, got {value}\n")
    try:
        status = args.func(args)
    except OrbnodeError as exc:
        print(f"orbnode {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        if os.environ.get("ORBNODE_DEBUG"):
            raise
        where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
        print(f"orbnode {args.command}: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"orbnode {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(status or 0)


if __name__ == "__main__":
    sys.exit(main())
