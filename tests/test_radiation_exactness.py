"""Bit exactness: in-place faults equal separately built sessions on modified files.

Weight faults: the output after a flip in the live buffer must equal, bit for bit, the
output of a fresh onnxruntime session built from a model file whose weight carries the
same flip (written with onnx.numpy_helper, no engine code involved). Activation
faults: the ScatterND patch and the graph tail must both equal a reference computed by
splitting the graph at the target with onnx's own extractor and flipping the value
in between.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

from node.engine import Engine
from node.models import DEFAULT_MODEL, DEFAULT_SAMPLE
from radiation import testmodels as tm
from radiation.activations import ActivationInjector
from radiation.bits import FaultSiteError
from radiation.faults import Fault, Injector
from radiation.sampling import sample_faults
from radiation.trials import ActivationTrials, WeightTrials

UINT = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def _reference_session(model: onnx.ModelProto) -> ort.InferenceSession:
    """A fresh session reading its weights from ``model``, same kernels as the engine.

    Prepacking is off as in the engine: a prepacked Gemm sums in another order and
    differs in the last bits even with no fault at all.
    """
    so = ort.SessionOptions()
    so.add_session_config_entry("session.disable_prepacking", "1")
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def _flip_in_file(model: onnx.ModelProto, fault: Fault) -> onnx.ModelProto:
    """A copy of ``model`` whose stored tensor ``fault.tensor`` carries the fault.

    Independent of the engine: finds the initializer *or the Constant node* by name and
    rewrites it through numpy_helper.
    """
    m = onnx.ModelProto()
    m.CopyFrom(model)

    def modified(t: onnx.TensorProto) -> onnx.TensorProto:
        arr = numpy_helper.to_array(t).copy()
        words = arr.reshape(-1).view(UINT[arr.itemsize])
        for i in range(fault.index, fault.index + fault.span_words):
            words[i] = fault.new_word(int(words[i]))
        return numpy_helper.from_array(arr, t.name)

    for k, init in enumerate(m.graph.initializer):
        if init.name == fault.tensor:
            m.graph.initializer[k].CopyFrom(modified(init))
            return m
    for node in m.graph.node:
        if node.op_type == "Constant" and node.output[0] == fault.tensor:
            node.attribute[0].t.CopyFrom(modified(node.attribute[0].t))
            return m
    raise AssertionError(f"{fault.tensor} not found")


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return all(np.ascontiguousarray(x).tobytes() == np.ascontiguousarray(y).tobytes()
               for x, y in zip(a, b, strict=True))


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("exact_models")
    return {
        "digits": DEFAULT_MODEL,
        "constants": tm.save(tm.cnn_model(constants=True), d / "constants.onnx"),
        "int8": tm.quantized_cnn(d / "int8.onnx"),
        "int8-qdq": tm.quantized_cnn(d / "int8_qdq.onnx", quant_format="QDQ"),
        "bf16": tm.save(tm.cast_weights_model("bfloat16"), d / "bf16.onnx"),
        "fp16": tm.save(tm.cast_weights_model("float16"), d / "fp16.onnx"),
        "opset9": tm.save(tm.cnn_model(opset=9, ir_version=3, initializers_as_inputs=True,
                                       dynamic=False), d / "opset9.onnx"),
    }


def _faults_for(engine: Engine, n: int, seed: int) -> list[Fault]:
    rng = np.random.default_rng(seed)
    faults = sample_faults(engine.live_weights, n, rng)
    # Always include the most consequential bits of the biggest and smallest tensor.
    names = sorted(engine.weights, key=lambda k: engine.weights[k].size)
    for name in (names[0], names[-1]):
        top = engine.weights[name].itemsize * 8 - 1
        faults += [Fault(name, 0, top), Fault(name, engine.weights[name].size - 1, top - 1)]
    faults += [Fault(names[-1], 3, 2, "mbu", 3), Fault(names[-1], 5, 1, "mcu", 2),
               Fault(names[-1], 7, 0, "stuck-at-1", 2),
               Fault(names[-1], 9, 0, "random", 1, word=0x5A5A5A5A & ((1 << top + 1) - 1))]
    return faults


CASES = [("digits", "file"), ("digits", "runtime"), ("constants", "file"),
         ("constants", "runtime"), ("int8", "file"), ("int8", "runtime"),
         ("int8-qdq", "file"), ("bf16", "file"), ("fp16", "file"), ("opset9", "file")]


@pytest.mark.parametrize(("kind", "level"), CASES)
def test_weight_faults_equal_a_rebuilt_session(model_files, kind, level):
    engine = Engine(model_files[kind], level=level)
    x = (np.load(DEFAULT_SAMPLE)["x"][:2] if engine.input_shape[1:] == (1, 8, 8)
         else engine.make_input(np.random.default_rng(1)))
    if engine.input_shape[0] != x.shape[0]:
        x = x[: engine.input_shape[0]]
    golden_weights = {n: a.copy() for n, a in engine.weights.items()}
    clean = engine.run(x)
    # The file the reference reads: the original file at file level, the optimised
    # graph at runtime level (its weights are what the runtime really reads).
    base = onnx.load(str(model_files[kind])) if level == "file" else engine.model
    inj = Injector.from_engine(engine)
    changed = 0
    for fault in _faults_for(engine, 12, seed=hash((kind, level)) % 1000):
        applied = inj.apply(fault)
        live_out = engine.run(x)
        inj.undo(applied)
        ref_out = _reference_session(_flip_in_file(base, fault)).run(None, {engine.input_name: x})
        assert _same(live_out, ref_out), (kind, level, fault)
        changed += not _same(live_out, clean)
    assert changed > 0  # the faults did something
    for n, a in engine.weights.items():  # every undo was exact
        assert a.tobytes() == golden_weights[n].tobytes()
    assert _same(engine.run(x), clean)


def test_int8_model_really_has_quantized_weights(model_files):
    engine = Engine(model_files["int8"])
    dtypes = {a.dtype.name for a in engine.weights.values()}
    assert {"int8", "uint8", "int32", "float32"} <= dtypes  # weights, zero points, biases, scales
    assert all(engine.live.values())


@pytest.mark.parametrize("reuse", [False, True])
def test_weight_trials_match_rebuilt_sessions(reuse):
    engine = Engine(DEFAULT_MODEL)
    x = np.load(DEFAULT_SAMPLE)["x"][:1]
    trials = WeightTrials(engine, x, reuse=reuse)
    base = onnx.load(str(DEFAULT_MODEL))
    for fault in sample_faults(engine.weights, 6, np.random.default_rng(5)) + [
            Fault("conv1.weight", 0, 30), Fault("fc2.bias", 1, 30)]:
        outcome, out = trials.run_fault(fault)
        ref = _reference_session(_flip_in_file(base, fault)).run(None, {"input": x})
        assert _same(out, ref)
        assert outcome == trials.golden.classify(ref)


def _split_reference(model_path, target: str, fault: Fault, x: np.ndarray) -> list[np.ndarray]:
    """Run the graph up to ``target``, flip the value in numpy, run the rest: ONNX's extractor."""
    model = onnx.shape_inference.infer_shapes(onnx.load(str(model_path)))
    head = onnx.utils.Extractor(model).extract_model(["input"], [target])
    tail = onnx.utils.Extractor(model).extract_model([target], ["logits"])
    value = _reference_session(head).run(None, {"input": x})[0].copy()
    words = value.reshape(-1).view(UINT[value.itemsize])
    for i in range(fault.index, fault.index + fault.span_words):
        words[i] = fault.new_word(int(words[i]))
    if target == "logits":
        return [value]
    return _reference_session(tail).run(None, {target: value})


def test_activation_faults_equal_split_graph_reference():
    engine = Engine(DEFAULT_MODEL)
    x = np.load(DEFAULT_SAMPLE)["x"][3:4]
    acts = ActivationInjector(engine)
    golden = acts.golden(x)
    targets = [t for t in acts.targets if t != "input"]
    assert "relu1_out" in targets and "logits" in targets
    rng = np.random.default_rng(0)
    faults = sample_faults({t: golden[t] for t in targets}, 20, rng)
    faults += [Fault(t, 0, 30) for t in targets]
    faults += [Fault("conv2_out", 11, 20, "mbu", 4), Fault("pool_out", 6, 29, "mcu", 3)]
    changed = 0
    for fault in faults:
        ref = _split_reference(DEFAULT_MODEL, fault.tensor, fault, x)
        patched = acts.run_patched(x, fault, golden)
        tail = acts.run_tail(fault, golden)
        assert _same(patched, ref), fault
        assert _same(tail, ref), fault
        changed += not _same(ref, [golden["logits"]])
    assert changed > len(faults) // 3
    # The golden activations are untouched after all those tail runs, and an empty
    # patch is a clean run.
    assert _same([acts.golden(x)[t] for t in targets], [golden[t] for t in targets])
    assert _same(acts.run_patched_clean(x, "relu2_out", golden), engine.run(x))


def test_input_faults_are_flips_of_the_fed_input():
    engine = Engine(DEFAULT_MODEL)
    x = np.load(DEFAULT_SAMPLE)["x"][:1]
    acts = ActivationInjector(engine)
    golden = acts.golden(x)
    fault = Fault("input", 20, 29)
    flipped = x.copy()
    flipped.reshape(-1).view(np.uint32)[20] ^= 1 << 29
    ref = _reference_session(onnx.load(str(DEFAULT_MODEL))).run(None, {"input": flipped})
    assert _same(acts.run_patched(x, fault, golden), ref)
    assert _same(acts.run_tail(fault, golden), ref)
    assert golden["input"].tobytes() == x.tobytes()


@pytest.mark.parametrize("kind", ["int8", "constants"])
def test_activation_patch_and_tail_agree_on_other_models(model_files, kind):
    engine = Engine(model_files[kind])
    x = np.load(DEFAULT_SAMPLE)["x"][:1]
    trials_p = ActivationTrials(engine, x)
    trials_t = ActivationTrials(engine, x, reuse=True)
    acts = {t: v for t, v in trials_p.golden_acts.items() if t != "input"}
    for fault in sample_faults(acts, 15, np.random.default_rng(2)):
        a, out_a = trials_p.run_fault(fault)
        b, out_b = trials_t.run_fault(fault)
        assert a == b and _same(out_a, out_b), fault


def test_runtime_level_activation_faults_agree():
    # NCHWc-blocked activations (with their padding channels) are real memory too.
    engine = Engine(DEFAULT_MODEL, level="runtime")
    x = np.load(DEFAULT_SAMPLE)["x"][:1]
    acts = ActivationInjector(engine)
    golden = acts.golden(x)
    for fault in sample_faults({t: golden[t] for t in acts.targets if t != "input"}, 15,
                               np.random.default_rng(4)):
        assert _same(acts.run_patched(x, fault, golden), acts.run_tail(fault, golden)), fault


def test_bad_sites_are_clear_errors_and_change_nothing():
    engine = Engine(DEFAULT_MODEL)
    x = np.load(DEFAULT_SAMPLE)["x"][:1]
    before = {n: a.tobytes() for n, a in engine.weights.items()}
    inj = Injector.from_engine(engine)
    size = engine.weights["fc2.bias"].size
    for fault, match in [(Fault("nope", 0, 0), "no weight tensor named 'nope'"),
                         (Fault("fc2.bias", size, 0), "index 10 out of range"),
                         (Fault("fc2.bias", -1, 0), "out of range"),
                         (Fault("fc2.bias", 0, 32), "bit 32 out of range"),
                         (Fault("fc2.bias", 0, 30, "mbu", 3), "3-bit upset"),
                         (Fault("fc2.bias", size - 1, 0, "mcu", 2), "2-word fault")]:
        with pytest.raises(FaultSiteError, match=match):
            inj.apply(fault)
        with pytest.raises(FaultSiteError):
            inj.flip(fault.tensor, fault.index, fault.bit) if fault.kind == "seu" else inj.check(
                fault)
    assert {n: a.tobytes() for n, a in engine.weights.items()} == before
    acts = ActivationInjector(engine)
    golden = acts.golden(x)
    with pytest.raises(FaultSiteError, match="no activation named"):
        acts.run_patched(x, Fault("fc1.weight_out", 0, 0), golden)
    with pytest.raises(FaultSiteError, match="out of range"):
        acts.run_tail(Fault("relu1_out", golden["relu1_out"].size, 0), golden)
    assert {n: a.tobytes() for n, a in engine.weights.items()} == before


def test_old_opset_activation_faults_use_the_tail(model_files):
    engine = Engine(model_files["opset9"])
    x = np.load(DEFAULT_SAMPLE)["x"][:1]
    acts = ActivationInjector(engine)
    golden = acts.golden(x)
    with pytest.raises(FaultSiteError, match="opset 9"):
        acts.run_patched(x, Fault("relu1_out", 0, 30), golden)
    out = acts.run_tail(Fault("relu1_out", 0, 30), golden)
    assert not _same(out, [golden["logits"]])


@pytest.mark.parametrize("level", ["file", "runtime"])
def test_trial_fast_paths_equal_the_exact_references(level):
    # The campaign fast paths (live patch initializers, bound buffers) must give the
    # very outputs the reference paths give, and classify them the same way.
    engine = Engine(DEFAULT_MODEL, level=level)
    x = np.load(DEFAULT_SAMPLE)["x"][7:8]
    at = ActivationTrials(engine, x)
    from radiation.trials import _PatchRun

    acts = {t: v for t, v in at.golden_acts.items() if t != "input"}
    for fault in sample_faults(acts, 25, np.random.default_rng(9)):
        ref = at.acts.run_patched(at.x, fault, at.golden_acts)
        run = _PatchRun(at.acts, fault.tensor, at.x, at.golden_acts)
        word = fault.new_word(int(at.words[fault.tensor][fault.index]))
        assert _same(run(fault.index, word), ref), fault
        assert at.trial(fault.tensor, fault.index, fault.bit) == at.golden.classify(ref)
    wt = WeightTrials(engine, x)
    wr = WeightTrials(engine, x, reuse=True)
    for fault in sample_faults(engine.live_weights, 25, np.random.default_rng(10)):
        outcome, out = wt.run_fault(fault)
        assert wt.trial(fault.tensor, fault.index, fault.bit) == outcome
        assert wr.trial(fault.tensor, fault.index, fault.bit) == outcome
        assert _same(wr.run_fault(fault)[1], out)
