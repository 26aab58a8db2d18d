"""``orbnode node --selftest``: is this installed node fit to fly its model?

Run on the board after ``install.sh`` (which does so itself), it exercises the real
pieces the node service uses, in the order they depend on each other: the Python
packages, onnxruntime's providers, the board profile, the model (and, with
``--bundle``, that model and profile are byte-for-byte the ones flashed), one
inference, liveness of the weights radiation will hit, the power source, the packet
codec with its COBS framing, a loopback over a pseudo-terminal through pyserial, and
optionally the real serial port. It prints a JSON report; exit 0 only when every
required check passed, 1 when one failed, 2 for a bad argument (unknown board,
missing model, a directory that is not a bundle).

Heavy imports happen inside the checks, so a broken onnxruntime or numpy shows up
as a failed check in the report instead of a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from node.errors import OrbnodeError, first_line

# (import name, distribution name) of what the node imports at run time.
PACKAGES = (
    ("onnxruntime", "onnxruntime"),
    ("numpy", "numpy"),
    ("serial", "pyserial"),
    ("spacepackets", "spacepackets"),
    ("onnx", "onnx"),
    ("cobs", "cobs"),
)


@dataclass
class Check:
    """One line of the report."""

    name: str
    ok: bool
    detail: str
    required: bool = True



class SelfTest:
    """Resolves what to check from the ``orbnode node`` arguments, then runs the checks.

    Argument problems (unknown board, missing model, not a bundle) raise
    :class:`OrbnodeError` from the constructor, before any check runs.
    """

    def __init__(self, args: argparse.Namespace) -> None:
        from node.boards import detect_board, load_board
        from node.manifest import read_manifest
        from node.models import DEFAULT_MODEL

        self.args = args
        self.bundle = Path(args.bundle) if args.bundle else None
        self.manifest = read_manifest(self.bundle) if self.bundle else None
        if args.board != "auto":
            board_ref = args.board
        elif self.manifest and (self.bundle / self.manifest["board_profile"]).is_file():
            board_ref = str(self.bundle / self.manifest["board_profile"])
        elif self.manifest:
            board_ref = self.manifest["board"]
        else:
            board_ref = detect_board()
        self.board = load_board(board_ref)
        if args.model:
            self.model = Path(args.model)
        elif self.manifest:
            self.model = self.bundle / self.manifest["model"]["path"]
        else:
            self.model = DEFAULT_MODEL
        if not self.model.is_file():
            raise OrbnodeError(f"model file not found: {self.model}")
        if args.input is not None and not Path(args.input).is_file():
            raise OrbnodeError(f"input file not found: {args.input}")
        self.checks: list[Check] = []
        self.engine = None

    # ------------------------------------------------------------------ running
    def _run(self, name: str, fn: Callable[[], tuple[bool, str]], required: bool = True) -> bool:
        try:
            ok, detail = fn()
        except Exception as exc:  # a check failing is a result, never a traceback
            ok, detail = False, first_line(exc)
        self.checks.append(Check(name, bool(ok), detail, required))
        return bool(ok)

    def _skip(self, name: str, why: str, required: bool = True) -> None:
        self.checks.append(Check(name, False, f"not run: {why}", required))

    def run(self) -> dict:
        """Run every check; return the JSON-ready report."""
        t0 = time.perf_counter()
        self._run("python", self._python)
        imported = {name: self._run(f"package:{dist}", lambda n=name, d=dist: _package(n, d))
                    for name, dist in PACKAGES}
        self._run("orbnode", self._orbnode)
        ort_ok = imported["onnxruntime"] and imported["numpy"] and imported["onnx"]
        if ort_ok:
            self._run("onnxruntime_providers", self._providers)
        else:
            self._skip("onnxruntime_providers", "onnxruntime, numpy or onnx did not import")
        self._run("board_profile", self._board_profile)
        if self.manifest is not None:
            self._run("model_sha256", self._model_sha)
        radiation = self.args.radiation == "on"  # only then must weights be live
        if not ort_ok:
            self._skip("model_load", "onnxruntime, numpy or onnx did not import")
        if ort_ok and self._run("model_load", self._model_load):
            self._run("inference", self._inference)
            self._run("weights_live", self._liveness, required=radiation)
        else:
            self._skip("inference", "the model did not load")
            self._skip("weights_live", "the model did not load", required=radiation)
        self._run("power_source", self._power)
        self._run("temperature_sensor", self._temperature, required=False)
        link_ok = imported["spacepackets"] and imported["cobs"]
        if link_ok:
            self._run("packet_codec", self._codec)
        else:
            self._skip("packet_codec", "spacepackets or cobs did not import")
        if self.args.key_file:
            self._run("telecommand_auth", self._auth)
        if link_ok and imported["serial"]:
            # Required wherever ptys exist: it is the path `orbnode run` takes.
            self._run("pty_loopback", self._pty_loopback, required=_has_pty())
        else:
            self._skip("pty_loopback", "pyserial, spacepackets or cobs did not import")
        if self.args.port:
            self._run("serial_port", self._serial_port)
        failed = [c.name for c in self.checks if c.required and not c.ok]
        return {
            "selftest": "orbnode node",
            "ok": not failed,
            "board": self.board.name,
            "model": str(self.model),
            "bundle": str(self.bundle) if self.bundle else None,
            "failed": failed,
            "warnings": [c.name for c in self.checks if not c.required and not c.ok],
            "elapsed_s": round(time.perf_counter() - t0, 3),
            "checks": [asdict(c) for c in self.checks],
        }

    # ------------------------------------------------------------------ checks
    def _python(self) -> tuple[bool, str]:
        ok = sys.version_info >= (3, 10)
        detail = f"{platform.python_implementation()} {platform.python_version()} " \
                 f"({sys.executable}) on {platform.system()}-{platform.machine()}"
        if self.manifest:
            want = self.manifest["targets"]["python_version"]
            have = f"{sys.version_info.major}.{sys.version_info.minor}"
            if have != want:
                detail += f"; bundle was made for Python {want}"
                ok = ok and not self.manifest.get("dependencies_included")
        return ok, detail

    def _orbnode(self) -> tuple[bool, str]:
        from importlib.metadata import PackageNotFoundError, version

        import node

        try:
            have = version("orbnode")
        except PackageNotFoundError:
            have = "not installed (source tree)"
        detail = f"orbnode {have} from {Path(node.__file__).parent}"
        if self.manifest is None:
            return True, detail
        want = self.manifest["orbnode_version"]
        if have != want:
            return False, f"{detail}; the bundle holds orbnode {want}"
        return True, detail + "; matches the bundle"

    def _providers(self) -> tuple[bool, str]:
        import onnxruntime as ort

        providers = ort.get_available_providers()
        ok = "CPUExecutionProvider" in providers
        return ok, f"onnxruntime {ort.__version__} ({ort.get_device()}): {', '.join(providers)}"

    def _board_profile(self) -> tuple[bool, str]:
        from node.manifest import sha256_file

        b = self.board
        detail = (f"{b.name} from {b.source_path}: {b.idle_w:g}-{b.load_w:g} W, {b.cores} cores, "
                  f"modes {', '.join(b.modes)}")
        if self.manifest is None:
            return True, detail
        entry = _manifest_file(self.manifest, self.manifest["board_profile"])
        have = sha256_file(b.source_path)
        if entry is None or have != entry["sha256"]:
            return False, f"{detail}; sha256 {have[:12]}... is not the bundle's profile " \
                          f"{self.manifest['board_profile']}"
        return True, detail + "; sha256 matches the bundle"

    def _model_sha(self) -> tuple[bool, str]:
        from node.manifest import sha256_file

        want = self.manifest["model"]["sha256"]
        have = sha256_file(self.model)
        if have != want:
            return False, (f"{self.model} has sha256 {have}, the bundle manifest says {want} "
                           f"({self.manifest['model']['name']})")
        # External-data files sit beside the model, as flash laid them out under models/.
        extra = self.manifest["model"].get("files", [])[1:]
        for rel in extra:
            entry = _manifest_file(self.manifest, rel)
            path = self.model.parent / Path(rel).relative_to("models")
            if entry is None or not path.is_file() or sha256_file(path) != entry["sha256"]:
                return False, f"external data {path} is missing or not the bundle's {rel}"
        more = f" with {len(extra)} external-data file(s)" if extra else ""
        return True, f"{self.model.name}{more} sha256 {have} matches the bundle manifest"

    def _model_load(self) -> tuple[bool, str]:
        from node.engine import Engine, parse_shape

        shape = parse_shape(self.args.input_shape) if self.args.input_shape else None
        t0 = time.perf_counter()
        self.engine = Engine(self.model, threads=1, input_shape=shape, level=self.args.level)
        ms = (time.perf_counter() - t0) * 1e3
        e = self.engine
        return True, (f"{self.model.name} at {e.level} level in {ms:.0f} ms: input "
                      f"{e.input_name} {list(e.input_shape)} {e.input_dtype}, "
                      f"{len(e.weights)} weight tensors")

    def _inference(self) -> tuple[bool, str]:
        import numpy as np

        from node.inputs import load_inputs

        inputs, labels = load_inputs(self.engine, self.args.input)
        x = inputs[:1]
        self.engine.run(x)  # warm-up
        t0 = time.perf_counter()
        outputs = self.engine.run(x)
        ms = (time.perf_counter() - t0) * 1e3
        finite = all(np.all(np.isfinite(o)) for o in outputs
                     if isinstance(o, np.ndarray) and o.dtype.kind == "f")
        shapes = ", ".join(str(list(np.shape(o))) for o in outputs)
        detail = f"one inference in {ms:.2f} ms, outputs {shapes}"
        if labels is not None and len(outputs[0]) and np.ndim(outputs[0]) == 2:
            detail += f", predicted {int(np.argmax(outputs[0][0]))} (label {int(labels[0])})"
        return finite, detail + ("" if finite else "; outputs hold NaN or inf")

    def _liveness(self) -> tuple[bool, str]:
        d = self.engine.describe()
        detail = f"{d['live']} of {d['weights']} weight tensors live ({d['live_bits']} bits)"
        if d["not_live"]:
            detail += f"; not live: {', '.join(sorted(d['not_live'])[:5])}"
        return d["weights"] == 0 or d["live"] > 0, detail

    def _power(self) -> tuple[bool, str]:
        from node.power import open_power_source

        source = open_power_source(self.args.power_source, self.board)
        sum(i * i for i in range(20000))  # a little work to measure
        time.sleep(0.05)
        watts = source.read_power_w()
        kind = "measured" if source.measured else "modelled"
        ok = math.isfinite(watts) and watts >= 0
        return ok, f"{source.describe()} ({kind}): {watts:.2f} W"

    def _temperature(self) -> tuple[bool, str]:
        path = self.board.temp_sensor_path
        try:
            milli = float(Path(path).read_text().strip())
        except (OSError, ValueError):
            return False, f"{path} not readable (the temperature comes from the thermal model)"
        return True, f"{path}: {milli / 1000:.1f} C"

    def _codec(self) -> tuple[bool, str]:
        from node.link.framing import FrameDecoder, encode_frame
        from node.packets import PACKETS

        P = PACKETS.payload_type
        zeros = dict.fromkeys(PACKETS.defs["hk_node"].field_names, 0)  # counters not exercised
        hk = P("hk_node")(**{**zeros, "tick": 7, "mode": PACKETS.enums["mode"]["ECO"],
                             "threads": 1, "duty": 0.5, "inferences": 123456789,
                             "power_w": 3.25})
        sent = [("ping", P("ping")()), ("hk_node", hk),
                ("event", P("event")(event_id=42, text="selftest"))]
        stream = b"\x00\x13\x37junk\x00"  # line noise: one bad frame, then back in sync
        for i, (name, payload) in enumerate(sent):
            stream += encode_frame(PACKETS.build(name, payload, seq_count=i))
        decoder = FrameDecoder()
        got = [PACKETS.parse(p) for p in decoder.feed(stream)]
        names = [p.name for p in got]
        if names != [n for n, _ in sent]:
            return False, f"sent {[n for n, _ in sent]}, decoded {names}"
        for (name, payload), pkt in zip(sent, got, strict=True):
            if type(pkt.payload) is not type(payload):
                return False, f"{name}: decoded a {type(pkt.payload).__name__}"
            for f in dataclasses.fields(payload):
                key, value, back = f.name, getattr(payload, f.name), getattr(pkt.payload, f.name)
                if (isinstance(value, float) and not math.isclose(back, value, rel_tol=1e-6)) \
                        or (not isinstance(value, float) and back != value):
                    return False, f"{name}.{key}: sent {value!r}, decoded {back!r}"
        return True, (f"{len(sent)} packets built, COBS-framed behind junk, decoded and parsed "
                      f"intact ({decoder.frames_bad} junk frame dropped)")

    def _auth(self) -> tuple[bool, str]:
        from node.auth import SOURCE_GROUND, Signer, Verifier, load_key
        from node.packets import PACKETS

        key = load_key(self.args.key_file)
        signer, verifier = Signer(key, SOURCE_GROUND), Verifier(key)
        pkt = PACKETS.parse(PACKETS.build("ping", PACKETS.payload_type("ping")(),
                                          signer=signer))
        args = (pkt.apid, pkt.service, pkt.subtype, pkt.source_id, pkt.data, pkt.trailer)
        first, replay = verifier.check(*args), verifier.check(*args)
        forged = Verifier(bytes(len(key))).check(*args)
        ok = first is None and replay == "replay" and forged == "bad_mac"
        return ok, (f"key {self.args.key_file} ({len(key)} bytes): signed ping accepted "
                    f"({first or 'ok'}), replay {replay}, wrong key {forged}")

    def _pty_loopback(self) -> tuple[bool, str]:
        if not _has_pty():
            return False, "no pseudo-terminals on this system"
        from node.link import Link
        from node.link.pty_transport import PtyPair
        from node.link.serial_transport import SerialTransport

        pair = PtyPair()
        host = Link(pair.master(), apid="sim")
        board = None
        try:
            board = Link(SerialTransport(pair.slave_path, self.args.baud))
            host.send("ping", host.packets.payload_type("ping")())
            got = _receive(board, "ping")
            if got is None:
                return False, f"ping sent by the host never reached pyserial on {pair.slave_path}"
            board.send("pong", board.packets.payload_type("pong")())
            if _receive(host, "pong") is None:
                return False, f"pong sent through pyserial on {pair.slave_path} never came back"
            return True, (f"ping/pong over {pair.slave_path} (pyserial) <-> pty master, "
                          f"{board.stats.frames_bad + host.stats.frames_bad} bad frames")
        finally:
            if board is not None:
                board.close()
            host.close()
            pair.close()

    def _serial_port(self) -> tuple[bool, str]:
        from node.link.serial_transport import SerialTransport

        transport = SerialTransport(self.args.port, self.args.baud)
        transport.close()
        return True, f"{self.args.port} opened at {self.args.baud} baud and closed"


def _package(module: str, dist: str) -> tuple[bool, str]:
    from importlib.metadata import PackageNotFoundError, version

    mod = importlib.import_module(module)
    try:
        ver = version(dist)
    except PackageNotFoundError:
        ver = getattr(mod, "__version__", "?")
    return True, f"{dist} {ver} ({Path(mod.__file__).parent if mod.__file__ else module})"


def _manifest_file(manifest: dict, rel: str) -> dict | None:
    return next((f for f in manifest.get("files", []) if f.get("path") == rel), None)


def _has_pty() -> bool:
    """Whether this system can make a pty pair at all (a container may have no /dev/pts)."""
    try:
        master, slave = os.openpty()
    except (AttributeError, OSError):
        return False
    os.close(master)
    os.close(slave)
    return True


def _receive(link, name: str, timeout_s: float = 3.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for pkt in link.receive(0.05):
            if pkt.name == name:
                return pkt
    return None


def cmd_selftest(args: argparse.Namespace) -> int:
    """``orbnode node --selftest``: print the JSON report; 0 if all required checks pass."""
    if not args.selftest:
        raise OrbnodeError("--bundle is only used with --selftest")
    report = SelfTest(args).run()
    print(json.dumps(report, indent=2))
    total = sum(1 for c in report["checks"] if c["required"])
    if report["ok"]:
        print(f"orbnode node --selftest: all {total} required checks passed"
              + (f" ({len(report['warnings'])} optional failed: {', '.join(report['warnings'])})"
                 if report["warnings"] else ""), file=sys.stderr)
        return 0
    print(f"orbnode node --selftest: FAILED {', '.join(report['failed'])}", file=sys.stderr)
    return 1
