"""Board-side sub-commands: ``orbnode node``."""

from __future__ import annotations

import argparse
import logging
import sys

from node.errors import OrbnodeError
from orbnode.options import LOG_LEVELS, PORT_HELP, add_model_args, baud_rate, non_negative, positive

log = logging.getLogger("orbnode.node")

# `orbnode tc` commands: packet name and how its argument becomes field values.
TC_COMMANDS = {"ping": "ping", "set-mode": "set_mode", "scrub": "scrub_now",
               "shutdown": "shutdown"}

# What each one does, for `orbnode tc --help`.
TC_HELP = {"ping": "the node answers pong and its hello",
           "set-mode": "force FULL, ECO or SAFE, or give the scheduler back control with auto",
           "scrub": "scrub the weight memory now",
           "shutdown": "stop the node after its final report"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("node", help="run the board side of the loop on a serial port")
    p.add_argument("--port", required=False, help=PORT_HELP)
    p.add_argument("--baud", type=baud_rate, default=115200,
                   help="serial line rate")
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
                   help="telecommand key (orbnode keygen, owner-only); required unless "
                        "--insecure")
    p.add_argument("--insecure", action="store_true",
                   help="run without a key: obey unauthenticated commands, shutdown included "
                        "(announced in the hello and flagged in every run summary)")
    p.add_argument("--state-dir", default=None,
                   help="writable folder for the anti-replay state (last accepted sequence "
                        "per source); default: beside the key file")
    p.add_argument("--seq-window-s", type=positive(), default=None,
                   help="how far (seconds) a sender's sequence clock may lead the node's "
                        "before a command is refused as seq_ahead (default: one day)")
    p.add_argument("--seed", type=non_negative(int), default=0,
                   help="seed of the upset process")
    p.add_argument("--log-level", choices=LOG_LEVELS, default="info",
                   help="what the node logs to stderr (the journal under systemd): start-up "
                        "settings, mode changes, contact lost and regained, why it stops")
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

    t = sub.add_parser("tc", help="send one authenticated telecommand and await verification",
                       description="Send one authenticated telecommand to a node and wait for "
                                   "its signed PUS-1 verification reports. Commands: "
                                   + "; ".join(f"{k} ({v})" for k, v in TC_HELP.items()) + ".")
    t.add_argument("--port", required=False, help=PORT_HELP)
    t.add_argument("--baud", type=baud_rate, default=115200,
                   help="serial line rate")
    t.add_argument("--key-file", required=False,
                   help="the node's key: signs the command and checks the node's reports")
    t.add_argument("--timeout-s", type=positive(), default=5.0,
                   help="how long to wait for the verification reports")
    t.add_argument("tc_command", metavar="command", choices=sorted(TC_COMMANDS),
                   help="what to send: " + ", ".join(sorted(TC_COMMANDS)))
    t.add_argument("argument", nargs="?", default=None,
                   help="set-mode: FULL, ECO, SAFE or auto")
    t.set_defaults(func=cmd_tc)


def cmd_node(args: argparse.Namespace) -> int:
    if args.selftest or args.bundle:  # before the heavy imports: a broken one is reported
        from node.selftest import cmd_selftest

        return cmd_selftest(args)
    from node.boards import detect_board, load_board
    from node.engine import Engine, parse_shape
    from node.inputs import file_shape, load_inputs
    from node.jobs import JobLoop
    from node.link import Link, open_transport
    from node.models import DEFAULT_MODEL
    from node.power import open_power_source
    from node.radiation_api import RadiationHooks
    from node.sdnotify import SystemdNotifier
    from node.service import NodeService

    if not args.port:
        raise OrbnodeError("--port is required (a serial device, a pty path or a pyserial URL)")
    _log_to_stderr(args.log_level)
    verifier = _verifier(args)  # before the heavy work: a missing key is one line, at once
    board = load_board(detect_board() if args.board == "auto" else args.board)
    model = args.model or str(DEFAULT_MODEL)
    shape = parse_shape(args.input_shape) if args.input_shape else None
    engine = Engine(model, threads=1, input_shape=shape, level=args.level,
                    shape_hint=None if shape else file_shape(args.input))
    inputs, labels = load_inputs(engine, args.input)
    engine.check_inference(inputs[: engine.input_shape[0]])  # before the port is opened
    power = open_power_source(args.power_source, board)
    log.info("board %s, model %s (%s level, input %s), power source %s", board.name,
             engine.model_path, args.level, "x".join(map(str, engine.input_shape)),
             power.describe())
    log.info("telecommand key %s", args.key_file if verifier is not None
             else "NONE: --insecure, obeying unauthenticated telecommands")
    hooks = RadiationHooks()
    if args.radiation == "on":
        hooks = _radiation_hooks(engine, args)
    # A pulled cable does not end the node: it reopens the port until it is back.
    link = Link(open_transport(args.port, args.baud, reopen=args.on_hangup == "reopen"))
    log.info("serving on %s at %d baud (on hang-up: %s)", args.port, args.baud, args.on_hangup)
    jobs = JobLoop(engine, inputs, labels)
    notifier = SystemdNotifier()  # under the flashed unit: READY=1, then watchdog pings
    service = NodeService(link, jobs, board, power, model_name=engine.model_path.name,
                          watchdog_s=args.watchdog_s, radiation=hooks, verifier=verifier,
                          heartbeat=notifier.beat, contact_lost_s=args.contact_lost_s,
                          store_packets=args.store_packets)
    try:
        service.serve()  # an error ends it as one line from orbnode.cli, exit 2
    finally:
        notifier.close()
        link.close()
        if verifier is not None:
            verifier.state.settle()
    if service.stopped_because.startswith("link closed"):
        log.error("stopping: %s", service.stopped_because)
        return 1
    log.info("stopping: %s", service.stopped_because or "serve loop ended")
    return 0


def _log_to_stderr(level: str) -> None:
    """The node's log on stderr (systemd puts it in the journal), at ``level``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s orbnode node %(levelname)s: "
                                           "%(message)s"))
    for old in [h for h in log.handlers if getattr(h, "_orbnode", False)]:
        log.removeHandler(old)  # an in-process caller (tests) runs the node again
    handler._orbnode = True  # type: ignore[attr-defined]
    log.addHandler(handler)
    log.setLevel(level.upper())
    log.propagate = False


def _verifier(args: argparse.Namespace):
    """The node's telecommand check: key, on-disk anti-replay state, forward window
    (:meth:`node.auth.Verifier.from_key_file`). Without a key the node runs only when
    told ``--insecure``."""
    from node.auth import Verifier

    if args.key_file is None:
        if not args.insecure:
            raise OrbnodeError("no --key-file: refusing to obey unauthenticated telecommands "
                               "(make a key with `orbnode keygen`, or pass --insecure)")
        if args.state_dir is not None or args.seq_window_s is not None:
            raise OrbnodeError("--state-dir and --seq-window-s need a --key-file")
        return None
    if args.insecure:
        raise OrbnodeError("--insecure and --key-file contradict each other")
    return Verifier.from_key_file(args.key_file, args.state_dir, args.seq_window_s)


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
    from node.auth import write_key

    # Owner-only, atomic, never through a symlink; --force replaces, never edits in place.
    print(write_key(args.out, overwrite=args.force))
    return 0


def cmd_tc(args: argparse.Namespace) -> int:
    import json
    import secrets

    from node.auth import SOURCE_GROUND, Signer, load_key
    from node.link import Link, open_transport
    from node.packets import PACKETS
    from node.tc_client import send_verified

    if not args.port or not args.key_file:
        raise OrbnodeError("--port and --key-file are required")
    name = TC_COMMANDS[args.tc_command]
    payload = PACKETS.payload_type(name)
    if name == "set_mode":
        modes = PACKETS.enums["set_mode"]
        if args.argument not in modes:
            raise OrbnodeError(f"set-mode needs one of {', '.join(modes)}")
        values = payload(mode=modes[args.argument])
    elif name == "shutdown":
        values = payload(tick=0xFFFFFFFF)
    else:
        values = payload()
    key = load_key(args.key_file)
    # A random packet sequence count: each invocation's request id differs.
    link = Link(open_transport(args.port, args.baud), apid="sim",
                signer=Signer(key, SOURCE_GROUND), first_seq=secrets.randbelow(16384))
    try:
        result = {"command": args.tc_command,
                  **send_verified(link, name, values, key, args.timeout_s)}
    finally:
        link.close()
    print(json.dumps(result))
    return 0 if result["completed"] else 1
