"""Board-side sub-commands: ``orbnode node``."""

from __future__ import annotations

import argparse

from node.errors import OrbnodeError
from orbnode.options import add_model_args, non_negative, positive

# `orbnode tc` commands: packet name and how its argument becomes field values.
TC_COMMANDS = {"ping": "ping", "set-mode": "set_mode", "scrub": "scrub_now",
               "shutdown": "shutdown"}



def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("node", help="run the board side of the loop on a serial port")
    p.add_argument("--port", required=False, help="serial device or pyserial URL")
    p.add_argument("--baud", type=positive(int), default=115200)
    p.add_argument("--board", default="auto", help="board profile name or .toml path")
    p.add_argument("--power-source", default="auto", help="auto, rapl, hwmon or model")
    p.add_argument("--watchdog-s", type=positive(), default=10.0,
                   help="wall seconds without an env tick before the node drops to SAFE")
    p.add_argument("--contact-lost-s", type=positive(), default=3.0,
                   help="wall seconds without a telecommand before the node stores its "
                        "telemetry for the next contact instead of sending it")
    p.add_argument("--on-hangup", choices=["reopen", "exit"], default="reopen",
                   help="when the port hangs up: reopen it until it is back (a pulled "
                        "cable), or exit (the port's other end is gone for good)")
    p.add_argument("--store-packets", type=positive(int), default=512,
                   help="on-board telemetry store size; the oldest are pushed out, counted")
    p.add_argument("--radiation", choices=["on", "off"], default="on",
                   help="apply the upsets the bus's radiation rate calls for to live weights")
    p.add_argument("--scrub-period-s", type=non_negative(), default=600.0,
                   help="environment seconds between weight-memory scrubs (0: never)")
    p.add_argument("--key-file", default=None,
                   help="telecommand key (orbnode keygen); without one, commands are "
                        "accepted unauthenticated")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--selftest", action="store_true",
                   help="check this installed node (packages, model, inference, power, link) "
                        "and print a JSON report; exit 0 only if every required check passes")
    p.add_argument("--bundle", default=None,
                   help="with --selftest: flashed bundle or install prefix whose manifest the "
                        "model and board profile must match")
    add_model_args(p)
    p.set_defaults(func=cmd_node)

    k = sub.add_parser("keygen", help="make a random telecommand key file (owner-only)")
    k.add_argument("--out", required=True, help="key file to write")
    k.add_argument("--force", action="store_true", help="overwrite an existing file")
    k.set_defaults(func=cmd_keygen)

    t = sub.add_parser("tc", help="send one authenticated telecommand and await verification")
    t.add_argument("--port", required=False, help="serial device or pyserial URL of the node")
    t.add_argument("--baud", type=positive(int), default=115200)
    t.add_argument("--key-file", required=False)
    t.add_argument("--timeout-s", type=positive(), default=5.0)
    t.add_argument("tc_command", metavar="command", choices=sorted(TC_COMMANDS),
                   help="what to send")
    t.add_argument("argument", nargs="?", default=None,
                   help="set-mode: FULL, ECO, SAFE or auto")
    t.set_defaults(func=cmd_tc)


def cmd_node(args: argparse.Namespace) -> int:
    if args.selftest or args.bundle:  # before the heavy imports: a broken one is reported
        from node.selftest import cmd_selftest

        return cmd_selftest(args)
    from node.boards import detect_board, load_board
    from node.engine import Engine, parse_shape
    from node.inputs import load_inputs
    from node.jobs import JobLoop
    from node.link import Link, open_transport
    from node.models import DEFAULT_MODEL
    from node.power import open_power_source
    from node.radiation_api import RadiationHooks
    from node.service import NodeService

    if not args.port:
        raise OrbnodeError("--port is required (a serial device, a pty path or a pyserial URL)")
    board = load_board(detect_board() if args.board == "auto" else args.board)
    model = args.model or str(DEFAULT_MODEL)
    shape = parse_shape(args.input_shape) if args.input_shape else None
    engine = Engine(model, threads=1, input_shape=shape, level=args.level)
    inputs, labels = load_inputs(engine, args.input)
    power = open_power_source(args.power_source, board)
    hooks = RadiationHooks()
    if args.radiation == "on":
        hooks = _radiation_hooks(engine, args)
    verifier = None
    if args.key_file:
        from node.auth import Verifier, load_key

        verifier = Verifier(load_key(args.key_file))
    # A pulled cable does not end the node: it reopens the port until it is back.
    link = Link(open_transport(args.port, args.baud, reopen=args.on_hangup == "reopen"))
    jobs = JobLoop(engine, inputs, labels)
    service = NodeService(link, jobs, board, power, model_name=engine.model_path.name,
                          watchdog_s=args.watchdog_s, radiation=hooks, verifier=verifier,
                          contact_lost_s=args.contact_lost_s, store_packets=args.store_packets)
    try:
        service.serve()
    finally:
        link.close()
    return 0


def _radiation_hooks(engine, args: argparse.Namespace):
    from node.radiation_api import RadiationHooks
    from radiation.upsets import Scrubber, UpsetProcess

    # Only weights verified live: an upset in a buffer the session never reads is no upset.
    live = engine.live_weights
    scrubber = Scrubber(live) if args.scrub_period_s > 0 else None
    return RadiationHooks(process=UpsetProcess(live, seed=args.seed),
                          scrubber=scrubber,
                          scrub_period_s=args.scrub_period_s or float("inf"))


def cmd_keygen(args: argparse.Namespace) -> int:
    from pathlib import Path

    from node.auth import write_key

    if Path(args.out).exists() and not args.force:
        raise OrbnodeError(f"{args.out} exists; pass --force to replace it")
    print(write_key(args.out))
    return 0


def cmd_tc(args: argparse.Namespace) -> int:
    import json
    import time

    from node.auth import SOURCE_GROUND, Signer, load_key
    from node.link import Link, open_transport
    from node.packets import PACKETS

    if not args.port or not args.key_file:
        raise OrbnodeError("--port and --key-file are required")
    signer = Signer(load_key(args.key_file), SOURCE_GROUND)
    name = TC_COMMANDS[args.tc_command]
    values: dict = {}
    if name == "set_mode":
        modes = PACKETS.enums["set_mode"]
        if args.argument not in modes:
            raise OrbnodeError(f"set-mode needs one of {', '.join(modes)}")
        values = {"mode": modes[args.argument]}
    elif name == "shutdown":
        values = {"tick": 0xFFFFFFFF}
    link = Link(open_transport(args.port, args.baud), apid="sim", signer=signer)
    try:
        request = int.from_bytes(link.send(name, values, ack_flags=0b1001)[:4], "big")
        result = {"command": args.tc_command, "request_id": request, "accepted": None,
                  "completed": None}
        deadline = time.monotonic() + args.timeout_s
        while time.monotonic() < deadline and result["completed"] is None:
            for pkt in link.receive(0.05):
                if not pkt.name.startswith("verify_") or \
                        pkt.values["request_id"] != request:
                    continue
                code = pkt.values.get("code")
                reason = PACKETS.enum_name("failure", code) if code is not None else None
                if pkt.name.startswith("verify_accept"):
                    result["accepted"] = pkt.name.endswith("ok")
                    if not result["accepted"]:
                        result["reason"] = reason
                        result["completed"] = False
                else:
                    result["completed"] = pkt.name.endswith("ok")
                    if reason:
                        result["reason"] = reason
    finally:
        link.close()
    if result["accepted"] is None:
        result["reason"] = f"no verification report within {args.timeout_s:g} s"
    print(json.dumps(result))
    return 0 if result["completed"] else 1
