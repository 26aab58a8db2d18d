"""The ``orbnode`` command line.

Each sub-command group lives in a thin ``orbnode/*_commands.py`` module with a
``register(subparsers)`` function; the modules only parse and call the libraries.
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
from orbnode import __version__

# Modules that provide sub-commands, in the order --help lists them.
COMMAND_MODULES = (
    "orbnode.node_commands",
    "orbnode.flash_commands",
    "orbnode.loop_commands",
    "orbnode.envelope_commands",
    "orbnode.radiation_commands",
    "orbnode.tensors_commands",
    "orbnode.radenv_commands",
    "orbnode.campaign_commands",
    "orbnode.report_commands",
    "orbnode.bench_commands",
    "orbnode.ground_commands",
    "orbnode.boardemu_commands",
)


class DefaultsFormatter(argparse.HelpFormatter):
    """Help that shows each option's default (unless it has none or already says it)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        # `is`, not `in`: 0 == False, and a zero default is still a default to show
        if (not action.option_strings or action.default is None or action.default is False
                or action.default is argparse.SUPPRESS or "default" in text):
            return text
        return f"{text} (default: %(default)s)".lstrip()


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the full usage stays in --help), and
    --help shows every option's default."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", DefaultsFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="orbnode",
        description="Hardware-in-the-loop emulator of an onboard AI compute node.",
    )
    parser.add_argument("--version", action="version", version=f"orbnode {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


# Top-level modules of the host-only extra, by extra; read from the installed metadata
# where there is one (tests/test_dependencies.py keeps this fallback equal to pyproject).
HOST_ONLY_MODULES = {"sgp4": "host", "matplotlib": "host", "tqdm": "host", "scipy": "host",
                     "ml_dtypes": "host", "numba": "host", "aep8": "host",
                     "packaging": "host"}


def missing_extra(module: str) -> str | None:
    """The optional extra that provides top-level ``module``, or None if it is no extra's.

    A board has the base install only (what ``orbnode flash`` bundles): the commands
    it runs (``node``, ``node --selftest``, ``tc``, ``keygen``) import nothing else,
    and any other command that reaches for a host-only module says which extra to add.
    """
    top = module.split(".")[0]
    try:
        from importlib.metadata import PackageNotFoundError, requires
    except ImportError:  # pragma: no cover
        return HOST_ONLY_MODULES.get(top)
    try:
        reqs = requires("orbnode") or []
    except PackageNotFoundError:
        return HOST_ONLY_MODULES.get(top)
    for req in reqs:
        name, _, marker = req.partition(";")
        dist = name.strip().split("[")[0]
        for sep in "<>=!~ (":
            dist = dist.split(sep)[0]
        found = marker.split("extra ==")
        if len(found) == 2 and dist.lower().replace("-", "_") == top.lower():
            return found[1].strip().strip("'\"")
    return None


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
    except ModuleNotFoundError as exc:
        extra = missing_extra(exc.name or "")
        if extra is None or os.environ.get("ORBNODE_DEBUG"):
            raise
        print(f"orbnode {args.command}: error: needs the {extra!r} extra, not installed here "
              f"(no module {exc.name!r}): pip install 'orbnode[{extra}]'", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"orbnode {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(status or 0)


if __name__ == "__main__":
    sys.exit(main())
