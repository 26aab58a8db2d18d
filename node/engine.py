"""Inference engine over an onnxruntime session whose weights live in memory we own.

Each weight is handed to the session with ``SessionOptions.add_initializer`` as an
``OrtValue`` that wraps our numpy buffer, and ``session.disable_prepacking`` is set,
so the session reads the buffer itself: a bit flipped in ``engine.weights[name]`` is
seen by the next ``run()`` with no rebuild (docs/architecture.md).

Graph optimisations that rewrite a weight (Conv+BatchNorm fusion, NCHWc layout) make
a private copy, and a flip in our buffer would then be silently ignored. So there are
two honest levels, and every session runs its graph with optimisations *off*:

``level="file"``
    The graph and weights exactly as stored in the model file. A fault is a fault in
    the weight as the file stores it.
``level="runtime"``
    The model is optimised once, offline, at ``ORT_ENABLE_ALL`` (fusions, NCHWc
    layout) and the optimised graph's weights are made live: a fault is a fault in the
    fused/reordered tensors the optimised graph really reads. Tensor names are those
    of the optimised graph (``Engine.weights`` lists them).

Liveness is never assumed: at load every weight is perturbed in place and the next
inference must show it (``Engine.live``); see :meth:`Engine._verify_liveness`.
Weights stored as ``Constant`` nodes become live initializers, external-data models
are read in full, and old IR versions that list initializers as graph inputs work.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, numpy_helper

from node.errors import OrbnodeError, first_line

_ORT_TO_NUMPY = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
    "tensor(bool)": np.bool_,
}

LEVELS = ("file", "runtime")

# Session-time optimisation. Only "disable" keeps every weight live; the others exist to
# show (and measure) what optimising at session time does: the liveness check then
# reports the weights the runtime copied, and the injector refuses them.
_OPT_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}

# Element types whose tensors are weights: they become live buffers and fault targets.
# int64 / bool / string initializers are shapes, axes and indices: they stay ordinary
# graph initializers owned by the session (a flipped shape is a crash, not an upset
# of the network's parameters) and are not in ``Engine.weights``.
WEIGHT_TYPES = {
    TensorProto.FLOAT: "float32",
    TensorProto.FLOAT16: "float16",
    TensorProto.BFLOAT16: "bfloat16",
    TensorProto.DOUBLE: "float64",
    TensorProto.INT8: "int8",
    TensorProto.UINT8: "uint8",
    TensorProto.INT16: "int16",
    TensorProto.UINT16: "uint16",
    TensorProto.INT32: "int32",
}


def check_model_file(path: str | os.PathLike) -> Path:
    """``path`` if it is a file; else the one-line :class:`OrbnodeError` every command gives."""
    p = Path(path)
    if p.is_dir():
        raise OrbnodeError(f"model file {p} is a directory, not an ONNX file")
    if not p.is_file():
        raise OrbnodeError(f"model file not found: {p}")
    return p


def load_model_proto(path: str | os.PathLike) -> onnx.ModelProto:
    """Read an ONNX file (external data included), or raise a one-line :class:`OrbnodeError`."""
    p = check_model_file(path)
    try:
        model = onnx.load(str(p))
    except Exception as exc:  # onnx raises DecodeError, ValueError, ... on garbage
        raise OrbnodeError(f"{p} is not an ONNX model ({type(exc).__name__})") from None
    if not model.graph.node:
        raise OrbnodeError(f"{p} is not an ONNX model (no graph nodes)")
    return model


def parse_shape(text: str) -> tuple[int, ...]:
    """Parse ``1,3,48,192`` into a shape tuple."""
    try:
        shape = tuple(int(s) for s in text.replace("x", ",").split(",") if s.strip())
    except ValueError:
        raise OrbnodeError(
            f"bad --input-shape {text!r}: expected integers like 1,3,48,192"
        ) from None
    if not shape or any(d <= 0 for d in shape):
        raise OrbnodeError(f"bad --input-shape {text!r}: dimensions must be positive")
    return shape



def constants_to_initializers(model: onnx.ModelProto) -> list[str]:
    """Turn the main graph's ``Constant`` nodes into initializers, in place.

    Real models (old exporters, TF converters) often carry their weights as Constant
    nodes; as initializers they can be handed to the session as live buffers. Constants
    inside subgraphs (If/Loop bodies) are left alone. Returns the names converted.
    """
    graph = model.graph
    keep, converted = [], []
    for node in graph.node:
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx") and len(node.output) == 1:
            attr = {a.name: a for a in node.attribute}
            tensor = None
            if "value" in attr:
                tensor = onnx.TensorProto()
                tensor.CopyFrom(attr["value"].t)
            elif "value_float" in attr:
                tensor = numpy_helper.from_array(np.array(attr["value_float"].f, np.float32))
            elif "value_floats" in attr:
                tensor = numpy_helper.from_array(np.array(attr["value_floats"].floats, np.float32))
            elif "value_int" in attr:
                tensor = numpy_helper.from_array(np.array(attr["value_int"].i, np.int64))
            elif "value_ints" in attr:
                tensor = numpy_helper.from_array(np.array(attr["value_ints"].ints, np.int64))
            if tensor is not None:
                tensor.name = node.output[0]
                graph.initializer.append(tensor)
                converted.append(node.output[0])
                continue
        keep.append(node)
    if converted:
        del graph.node[:]
        graph.node.extend(keep)
    return converted


def _strip_initializer_inputs(model: onnx.ModelProto) -> None:
    """Drop initializers from ``graph.input`` (IR < 4 listed them there).

    They would otherwise look like inputs to feed; from IR 4 on they need not be
    listed, so the IR version is raised to 4 when it was lower.
    """
    names = {i.name for i in model.graph.initializer}
    if not any(i.name in names for i in model.graph.input):
        return
    keep = [i for i in model.graph.input if i.name not in names]
    del model.graph.input[:]
    model.graph.input.extend(keep)
    model.ir_version = max(model.ir_version, 4)


# Live weight buffers start on a cache line (64 bytes), as onnxruntime's own allocator
# places the initializers it owns; numpy only promises 16, and a vector load that
# straddles two cache lines is a slower load. (On this project's shared 2-core test
# machine the effect was below the noise of the bench; it costs nothing.)
ALIGN_BYTES = 64


def aligned_empty(shape: tuple[int, ...], dtype: np.dtype,
                  align: int = ALIGN_BYTES) -> np.ndarray:
    """An uninitialised C-contiguous array whose data starts on an ``align`` boundary."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(nbytes + align, dtype=np.uint8)
    start = (-raw.ctypes.data) % align
    return raw[start:start + nbytes].view(dtype).reshape(shape)


def weight_array(tensor: onnx.TensorProto) -> np.ndarray:
    """A private, C-contiguous, writable, cache-line-aligned copy of an initializer
    (bfloat16 kept)."""
    src = np.ascontiguousarray(numpy_helper.to_array(tensor))  # a scalar becomes shape (1,)
    out = aligned_empty(src.shape, src.dtype)
    out[...] = src
    return out


def ortvalue_for(arr: np.ndarray, elem_type: int | None = None) -> ort.OrtValue:
    """Wrap ``arr`` (no copy) as an OrtValue of ONNX element type ``elem_type``.

    The one place OrtValues over live buffers are made (weights, fault patches, bound
    trial buffers). Default type: from the dtype (bfloat16 needs it said explicitly).
    """
    if elem_type is None and arr.dtype.name == "bfloat16":
        elem_type = TensorProto.BFLOAT16
    if elem_type == TensorProto.BFLOAT16:
        return ort.OrtValue.ortvalue_from_numpy_with_onnx_type(arr, TensorProto.BFLOAT16)
    return ort.OrtValue.ortvalue_from_numpy(arr)


def optimize_offline(model: onnx.ModelProto, providers: list[str],
                     name: str = "the model") -> onnx.ModelProto:
    """Optimise ``model`` once at ``ORT_ENABLE_ALL`` and return the optimised graph.

    The result is hardware specific (NCHWc block size), so it is made on the machine
    that runs it, at load time, and never shipped.
    """
    with tempfile.TemporaryDirectory(prefix="orbnode-opt-") as tmp:
        out = os.path.join(tmp, "optimized.onnx")
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.optimized_model_filepath = out
        so.log_severity_level = 3  # the "hardware specific" warning is the point here
        try:
            ort.InferenceSession(model.SerializeToString(), so, providers=providers)
        except Exception as exc:
            raise OrbnodeError(
                f"onnxruntime cannot optimise {name}: {first_line(exc)}"
            ) from None
        return onnx.load(out)


class Engine:
    """One model, live weights, one onnxruntime session per thread count.

    Sessions for different thread counts share the same weight buffers, so a power
    mode switch costs nothing after the first use of a thread count.

    Attributes worth knowing:
    ``weights``  name -> live numpy buffer (the memory the session reads);
    ``live``     name -> True when an in-place change was seen by the session (verified
                 at load on the first session; see :meth:`set_threads`);
    ``liveness_notes`` name -> why a weight is not live (absent when it is);
    ``level``    "file" or "runtime" (see the module docstring);
    ``model``    the ModelProto the sessions run (optimised graph at runtime level),
                 with the golden weights as its initializers.
    """

    def __init__(
        self,
        model_path: str | os.PathLike,
        *,
        threads: int = 1,
        input_shape: tuple[int, ...] | None = None,
        shape_hint: tuple[int, ...] | None = None,
        providers: list[str] | None = None,
        level: str = "file",
        verify_liveness: bool = True,
        graph_optimization: str = "disable",
    ) -> None:
        if graph_optimization not in _OPT_LEVELS:
            raise OrbnodeError(f"bad graph optimisation {graph_optimization!r}: choose one of "
                               + ", ".join(_OPT_LEVELS))
        self.graph_optimization = graph_optimization
        if level not in LEVELS:
            raise OrbnodeError(f"bad level {level!r}: choose one of {', '.join(LEVELS)}")
        self.model_path = Path(model_path)
        self.level = level
        self.providers = providers or ["CPUExecutionProvider"]
        model = load_model_proto(self.model_path)
        self.constant_weights = constants_to_initializers(model)
        _strip_initializer_inputs(model)
        if level == "runtime":
            model = optimize_offline(model, self.providers, self.model_path.name)
            constants_to_initializers(model)
            _strip_initializer_inputs(model)
        self.model = model
        # Weights become live buffers; the graph keeps them too (so the model stays a
        # valid model) and add_initializer overrides them by name.
        self.weights: dict[str, np.ndarray] = {}
        self.weight_types: dict[str, int] = {}
        for init in model.graph.initializer:
            if init.data_type in WEIGHT_TYPES:
                self.weights[init.name] = weight_array(init)
                self.weight_types[init.name] = init.data_type
        self._ortvalues = {
            n: ortvalue_for(a, self.weight_types[n]) for n, a in self.weights.items()
        }
        initializer_names = {i.name for i in model.graph.initializer}
        feed_inputs = [i for i in model.graph.input if i.name not in initializer_names]
        if len(feed_inputs) != 1:
            raise OrbnodeError(
                f"{self.model_path.name}: the runtime feeds models with exactly one input; "
                f"this one has {len(feed_inputs)}"
            )
        self._model_bytes = model.SerializeToString()
        self._sessions: dict[int, ort.InferenceSession] = {}
        self.live: dict[str, bool] = {n: True for n in self.weights}
        self.liveness_notes: dict[str, str] = {}
        self.verify_liveness = verify_liveness
        self.threads = 0
        # The first session is built before the input is known, so liveness waits.
        n = threads if threads > 0 else (os.cpu_count() or 1)
        self.session = self._sessions[n] = self._build_session(n)
        self.threads = n
        meta = self.session.get_inputs()[0]
        self.input_name = meta.name
        if meta.type not in _ORT_TO_NUMPY:
            raise OrbnodeError(f"{self.model_path.name}: input {meta.name!r} has type {meta.type}, "
                               "which the runtime cannot feed")
        self.input_dtype = np.dtype(_ORT_TO_NUMPY[meta.type])
        self.input_shape = self._resolve_shape(meta.shape, input_shape, shape_hint)
        self.output_names = [o.name for o in self.session.get_outputs()]
        if verify_liveness:
            self._verify_liveness(self.session)

    # ------------------------------------------------------------------ set-up
    def _resolve_shape(self, declared: list, given: tuple[int, ...] | None,
                       hint: tuple[int, ...] | None = None) -> tuple[int, ...]:
        """The concrete input shape: ``given`` (--input-shape) if any; else the declared
        one, its dynamic dimensions taken from ``hint`` (the shape of the --input file)
        when the ranks agree and the static dimensions match. The batch stays the
        declared one (1 if dynamic): the file's first axis counts samples."""
        if given is None and hint is not None and len(hint) == len(declared) and min(hint) > 0 \
                and all(
                not isinstance(d, int) or d <= 0 or d == h
                for d, h in zip(declared[1:], hint[1:], strict=True)):
            first = declared[0] if isinstance(declared[0], int) and declared[0] > 0 else 1
            given = (first, *hint[1:])
        if given is not None:
            if len(given) != len(declared) or any(
                isinstance(d, int) and d > 0 and d != g
                for d, g in zip(declared, given, strict=True)
            ):
                raise OrbnodeError(
                    f"--input-shape {','.join(map(str, given))} does not fit the model's input "
                    f"{self.input_name!r} of shape {declared}"
                )
            return tuple(given)
        dynamic = [i for i, d in enumerate(declared) if not isinstance(d, int) or d <= 0]
        # A leading symbolic dim is the batch; any other needs the user to say.
        if any(i != 0 for i in dynamic):
            raise OrbnodeError(
                f"model input {self.input_name!r} has dynamic dimensions {declared}; "
                "give --input-shape (e.g. 1,3,48,192)"
            )
        return tuple(1 if not isinstance(d, int) or d <= 0 else d for d in declared)

    def session_options(self, threads: int = 1, *, live: bool = True) -> ort.SessionOptions:
        """Options every session of this engine uses: optimisations off, no prepacking.

        With ``live=True`` the engine's weight buffers are attached; derived sessions
        (activation patches, graph tails) use this so they read the same memory.
        """
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.graph_optimization_level = _OPT_LEVELS[self.graph_optimization]
        so.add_session_config_entry("session.disable_prepacking", "1")
        # A faulty inference (a NaN-shaped Reshape, say) is an outcome the caller reports;
        # onnxruntime's own error log would reach the user's stderr as noise.
        so.log_severity_level = 4
        if live:
            for name, value in self._ortvalues.items():
                so.add_initializer(name, value)
        return so

    def _build_session(self, threads: int) -> ort.InferenceSession:
        return self.build_session(self._model_bytes, threads)

    def build_session(
        self, model: bytes | onnx.ModelProto, threads: int | None = None,
        extra: dict[str, np.ndarray] | None = None,
    ) -> ort.InferenceSession:
        """A session for ``model`` (this graph or one derived from it) on the live weights.

        ``extra`` names more initializers of ``model`` to make live (the caller keeps
        the arrays alive and C-contiguous), e.g. a fault patch's index and value.
        """
        data = model if isinstance(model, bytes) else model.SerializeToString()
        so = self.session_options(threads or self.threads or 1)
        keep = []
        for name, arr in (extra or {}).items():
            value = ortvalue_for(arr)
            keep.append(value)
            so.add_initializer(name, value)
        try:
            session = ort.InferenceSession(data, so, providers=self.providers)
        except Exception as exc:
            raise OrbnodeError(
                f"onnxruntime cannot load {self.model_path.name}: {first_line(exc)}"
            ) from None
        session._orbnode_live = keep  # the OrtValues must outlive the session
        return session

    # --------------------------------------------------------------- liveness
    def _outputs_bytes(self, session: ort.InferenceSession, x: np.ndarray) -> bytes | None:
        try:
            outs = session.run(self.output_names, {self.input_name: x})
        except Exception:
            return None
        return b"".join(np.ascontiguousarray(o).tobytes() for o in outs)

    @staticmethod
    def _probes(arr: np.ndarray) -> list[np.ndarray]:
        """Perturbed versions of ``arr`` that any reader of the buffer would notice."""
        if arr.dtype.kind == "f" or arr.dtype.name == "bfloat16":
            f = arr.astype(np.float32)
            return [(f * -3.0 + 1.0).astype(arr.dtype), np.full_like(arr, np.nan)]
        raw = arr.view(np.uint8) ^ np.uint8(0x55)
        return [raw.view(arr.dtype).reshape(arr.shape)]

    def _verify_liveness(self, session: ort.InferenceSession) -> None:
        """Check every weight buffer is read by ``session``, by changing it and looking.

        For each weight: overwrite the buffer in place with a probe (scaled-and-shifted
        values, then NaN for floats; every byte XOR 0x55 for integers), run one
        inference on a fixed random input, restore the exact bytes. A changed output
        (or a failed run) proves the session reads our memory: live. When the output
        does not change, a separately built session given the same probe decides:
        if *it* changes, the runtime copied the weight (dead buffer, e.g. a kernel
        that caches a constant input at construction); if it does not change either,
        the probe cannot show liveness (note "unobservable") and the weight is
        treated as not live, so no fault is ever injected on faith.
        Cost: one inference per weight (two or a session build when unobservable).
        """
        x = self.make_input(np.random.default_rng(12345))
        clean = self._outputs_bytes(session, x)
        if clean is None:
            for name in self.weights:
                self.live[name] = False
                self.liveness_notes[name] = "unverified: a clean inference on a random input fails"
            return
        for name, arr in self.weights.items():
            if not self.live.get(name, False):
                continue
            saved = arr.copy()
            seen = False
            probes = self._probes(arr)
            for probe in probes:
                arr[...] = probe
                got = self._outputs_bytes(session, x)
                arr[...] = saved
                if got != clean:
                    seen = True
                    break
            if seen:
                continue
            self.live[name] = False
            self.liveness_notes[name] = self._explain_unseen(name, probes, x, clean)
        if self._outputs_bytes(session, x) != clean:  # pragma: no cover - would be a bug
            raise OrbnodeError("liveness check did not restore the weights exactly")

    def _explain_unseen(
        self, name: str, probes: list[np.ndarray], x: np.ndarray, clean: bytes
    ) -> str:
        # The reference reads the probe from the model itself: with optimisations on,
        # onnxruntime fuses the graph's own initializers before add_initializer applies.
        golden = self.golden_weights()
        for probe in probes:
            weights = dict(self.weights)
            weights.update(golden)
            weights[name] = probe
            so = self.session_options(1, live=False)
            data = self.model_with_weights(weights).SerializeToString()
            ref = ort.InferenceSession(data, so, providers=self.providers)
            if self._outputs_bytes(ref, x) != clean:
                return "dead: the runtime copied this weight; in-place changes are not seen"
        return "unobservable: no probe of this weight changed the output (not verified live)"

    # ------------------------------------------------------------------- API
    def set_threads(self, threads: int) -> None:
        """Switch to the session for ``threads`` intra-op threads (0 = all cores)."""
        n = threads if threads > 0 else (os.cpu_count() or 1)
        if n not in self._sessions:
            # Not re-probed: the probe rewrites live buffers for an inference, and in the
            # node the upset process and the scrubber write them from another thread.
            # Which kernels copy a weight depends on the graph and the session options,
            # which all sessions share; the thread count only changes the work split.
            self._sessions[n] = self._build_session(n)
        self.threads = n
        self.session = self._sessions[n]

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        """One inference on the live weights."""
        return self.session.run(self.output_names, {self.input_name: x})

    def check_inference(self, x: np.ndarray) -> None:
        """Run ``x`` once; a model that cannot run it (a Reshape that does not fit, an
        input that does not fit the weights) is a user error, said in one line."""
        try:
            self.run(x)
        except Exception as exc:  # onnxruntime raises Fail, InvalidArgument, RuntimeException
            raise OrbnodeError(f"{self.model_path.name} fails on an input of shape "
                               f"{tuple(x.shape)}: {first_line(exc)}") from None

    def make_input(self, rng: np.random.Generator | None = None) -> np.ndarray:
        """A random input of the resolved shape and dtype."""
        rng = rng or np.random.default_rng(0)
        if self.input_dtype.kind == "f":
            return rng.standard_normal(self.input_shape).astype(self.input_dtype)
        info = np.iinfo(self.input_dtype) if self.input_dtype.kind in "iu" else None
        hi = min(info.max, 255) if info else 2
        return rng.integers(0, hi, self.input_shape).astype(self.input_dtype)

    @property
    def live_weights(self) -> dict[str, np.ndarray]:
        """Only the weights verified live: what fault injection and upsets may touch."""
        return {n: a for n, a in self.weights.items() if self.live.get(n, False)}

    def golden_weights(self) -> dict[str, np.ndarray]:
        """Fresh copies of the weights as the (possibly optimised) model stores them."""
        inits = self.model.graph.initializer
        return {i.name: weight_array(i) for i in inits if i.name in self.weights}

    def model_with_weights(self, weights: dict[str, np.ndarray] | None = None) -> onnx.ModelProto:
        """The graph the sessions run, its initializers replaced by ``weights``.

        Default: the current live buffers. Saved to a file, this is the model a
        separately built session would need to reproduce the live state.
        """
        weights = self.weights if weights is None else weights
        model = onnx.ModelProto()
        model.CopyFrom(self.model)
        for i, init in enumerate(model.graph.initializer):
            if init.name in weights:
                t = numpy_helper.from_array(np.asarray(weights[init.name]), init.name)
                model.graph.initializer[i].CopyFrom(t)
        return model

    def describe(self) -> dict:
        """JSON-ready summary: level, weights, bits exposed, liveness per weight."""
        return {
            "model": str(self.model_path),
            "level": self.level,
            "weights": len(self.weights),
            "live": sum(self.live.values()),
            "bits": int(sum(a.nbytes * 8 for a in self.weights.values())),
            "live_bits": int(sum(a.nbytes * 8 for a in self.live_weights.values())),
            "not_live": dict(self.liveness_notes),
        }

