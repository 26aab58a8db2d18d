"""Argument types and option groups shared by the sub-command modules."""

from __future__ import annotations

import argparse
import math


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


# --port accepts what pyserial's serial_for_url opens.
PORT_HELP = ("serial device (/dev/ttyUSB0), pty path, or pyserial URL: socket://HOST:PORT "
             "(raw TCP), rfc2217://HOST:PORT (a networked serial server), loop:// (loopback)")

# --log-level choices: python logging's levels, by name.
LOG_LEVELS = ("debug", "info", "warning", "error")

# The termios custom-rate call takes a C int; the fastest UARTs run at tens of Mbaud.
MAX_BAUD = 2**31 - 1


def baud_rate(text: str) -> int:
    """argparse type: a serial line rate in baud, 1 .. 2**31-1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of baud: {text!r}") from None
    if not 0 < value <= MAX_BAUD:
        raise argparse.ArgumentTypeError(f"must be 1..{MAX_BAUD} baud, got {text!r}")
    return value


def tcp_port(text: str) -> int:
    """argparse type: a TCP port, 0..65535 (0: any free port)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0..65535, got {text!r}")
    return value


def packet_field(packet: str, name: str):
    """argparse type: a number the packet definition lets field ``name`` carry (the
    same declared range the node enforces, node/packets/definitions.toml)."""
    from node.packets import PACKETS

    definition = PACKETS.defs[packet]
    python_type = int if dict(definition.fields)[name] in "BHIQ" else float

    def convert(text: str):
        try:
            value = python_type(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        problem = definition.field_problem(name, value)
        if problem:
            raise argparse.ArgumentTypeError(problem.split(": ", 1)[1])
        return value
    convert.__name__ = f"{packet}.{name}"
    return convert


def add_model_args(p: argparse.ArgumentParser) -> None:
    """--model, --input-shape, --input, --level: which graph runs on what."""
    p.add_argument("--model", default=None, help="ONNX model (default: bundled digits CNN)")
    p.add_argument("--input-shape", default=None,
                   help="concrete input shape for models with dynamic dims, e.g. 1,3,48,192")
    p.add_argument("--input", default=None, help="real inputs, .npy or .npz (keys x, y)")
    p.add_argument("--level", choices=["runtime", "file"], default="runtime",
                   help="runtime: optimise once offline, the fused weights are live (fast, "
                        "upsets hit what the board reads); file: the graph as stored")
