"""``orbnode flash``: build a bundle a board installs offline (see :mod:`orbnode.flash`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from orbnode.options import baud_rate


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "flash", help="build a bundle (wheel, model, profile, install.sh, systemd unit) "
                      "that a board installs with no network",
        description="Build BUNDLE/ and BUNDLE.tar.gz: the orbnode wheel, the wheels of its "
                    "base dependencies for the board's Python and platform, model, profile, "
                    "telecommand key, install.sh and systemd unit. On the board: tar xzf, "
                    "then BUNDLE/install.sh (offline; runs `orbnode node --selftest`).")
    p.add_argument("--board", required=True,
                   help="board profile name (rpi4, rpi5, jetson-orin-nano, x86-workstation), "
                        ".toml path, or auto (on the board: device-tree model or Jetson "
                        "release file)")
    p.add_argument("--out", required=True, help="bundle directory to write (BUNDLE)")
    p.add_argument("--model", default=None, help="ONNX model (default: bundled digits CNN)")
    p.add_argument("--wheel", default=None,
                   help="use this orbnode wheel instead of building one from the checkout")
    p.add_argument("--wheel-only", action="store_true",
                   help="bundle only the orbnode wheel; the board must already hold the "
                        "dependencies (by default their wheels for the board's Python and "
                        "platform are bundled, from the package index)")
    p.add_argument("--wheelhouse", default=None,
                   help="take the dependency wheels from this local directory, not the index")
    p.add_argument("--python-version", default=None,
                   help="board Python, major.minor (default per board, e.g. rpi4: 3.11)")
    p.add_argument("--platform", action="append", default=[], dest="platforms",
                   help="wheel platform tag of the board, repeatable; manylinux_2_X_arch "
                        "also admits older manylinux (default per board)")
    p.add_argument("--port", default=None,
                   help="serial device the service opens (default per board, rpi4: "
                        "/dev/ttyAMA0)")
    p.add_argument("--baud", type=baud_rate, default=115200, help="serial line rate")
    p.add_argument("--level", choices=["runtime", "file"], default="runtime",
                   help="fault level the service runs the model at (see orbnode node)")
    p.add_argument("--key-file", default=None,
                   help="telecommand key to install on the board (orbnode keygen); default: "
                        "a fresh random key, printed once for the ground")
    p.add_argument("--key-path", default=None,
                   help="where install.sh puts the key ON THE BOARD, owner-only (default "
                        "PREFIX/etc/tc.key); the unit hands it to the node")
    p.add_argument("--no-tar", action="store_true", help="do not write BUNDLE.tar.gz")
    p.add_argument("--json", action="store_true", help="print the manifest as JSON")
    p.set_defaults(func=cmd_flash)


def cmd_flash(args: argparse.Namespace) -> int:
    from node.errors import OrbnodeError
    from orbnode.flash import FlashOptions, build_bundle

    if args.baud <= 0:
        raise OrbnodeError(f"bad --baud {args.baud}: must be positive")
    opts = FlashOptions(
        board=args.board, out=Path(args.out), model=Path(args.model) if args.model else None,
        wheel=Path(args.wheel) if args.wheel else None, wheel_only=args.wheel_only,
        wheelhouse=Path(args.wheelhouse) if args.wheelhouse else None,
        key_file=Path(args.key_file) if args.key_file else None,
        python_version=args.python_version, platforms=args.platforms, port=args.port,
        baud=args.baud, level=args.level, key_path=args.key_path, tarball=not args.no_tar,
    )
    manifest = build_bundle(opts)
    if args.json:
        print(json.dumps(manifest, indent=2))
    else:
        print(Path(args.out).absolute())
    return 0
