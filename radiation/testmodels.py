"""Small real ONNX models in the shapes real deployments take, for tests and benchmarks.

Real models carry weights as initializers *or* as ``Constant`` nodes, declare dynamic
batch dimensions, come at old opsets/IR versions with initializers listed as graph
inputs, keep big tensors in external data files, and are quantized to int8 with
scales, zero points and int32 biases. Each builder here writes one such model, with
fixed seeds, so every path of the engine and the injector is exercised on real
onnxruntime sessions.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _cnn_weights(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    f = np.float32
    return {
        "conv1.weight": (rng.standard_normal((8, 1, 3, 3)) * 0.5).astype(f),
        "conv1.bias": (rng.standard_normal(8) * 0.1).astype(f),
        "bn1.scale": (rng.random(8) + 0.5).astype(f),
        "bn1.bias": (rng.standard_normal(8) * 0.1).astype(f),
        "bn1.mean": (rng.standard_normal(8) * 0.1).astype(f),
        "bn1.var": (rng.random(8) + 0.5).astype(f),
        "conv2.weight": (rng.standard_normal((16, 8, 3, 3)) * 0.2).astype(f),
        "conv2.bias": (rng.standard_normal(16) * 0.1).astype(f),
        "fc.weight": (rng.standard_normal((10, 256)) * 0.1).astype(f),
        "fc.bias": (rng.standard_normal(10) * 0.1).astype(f),
    }


def cnn_model(*, constants: bool = False, opset: int = 17, ir_version: int = 8,
              dynamic: bool = True, initializers_as_inputs: bool = False,
              seed: int = 0) -> onnx.ModelProto:
    """A digits-sized CNN: Conv-BN-Relu, Conv-Relu-MaxPool, Flatten, Gemm (input [N,1,8,8]).

    ``constants=True`` stores every weight as a ``Constant`` node instead of an
    initializer; ``initializers_as_inputs=True`` lists initializers as graph inputs
    (what IR 3 required).
    """
    w = _cnn_weights(seed)
    nodes = [
        helper.make_node("Conv", ["input", "conv1.weight", "conv1.bias"], ["conv1_out"],
                         pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization",
                         ["conv1_out", "bn1.scale", "bn1.bias", "bn1.mean", "bn1.var"],
                         ["bn1_out"]),
        helper.make_node("Relu", ["bn1_out"], ["relu1_out"]),
        helper.make_node("Conv", ["relu1_out", "conv2.weight", "conv2.bias"], ["conv2_out"],
                         pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv2_out"], ["relu2_out"]),
        helper.make_node("MaxPool", ["relu2_out"], ["pool_out"], kernel_shape=[2, 2],
                         strides=[2, 2]),
        helper.make_node("Flatten", ["pool_out"], ["flat_out"]),
        helper.make_node("Gemm", ["flat_out", "fc.weight", "fc.bias"], ["logits"], transB=1),
    ]
    batch = "N" if dynamic else 1
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 1, 8, 8])]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, 10])]
    inits = []
    if constants:
        consts = [helper.make_node("Constant", [], [n], value=numpy_helper.from_array(a, n + "_v"))
                  for n, a in w.items()]
        nodes = consts + nodes
    else:
        inits = [numpy_helper.from_array(a, n) for n, a in w.items()]
        if initializers_as_inputs:
            inputs += [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(a.shape))
                       for n, a in w.items()]
    graph = helper.make_graph(nodes, "cnn", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="orbnode-tests")
    model.ir_version = ir_version
    return model


def save(model: onnx.ModelProto, path: str | os.PathLike, *, external: bool = False) -> Path:
    """Write ``model`` to ``path``; ``external=True`` puts tensor data in a side file."""
    path = Path(path)
    if external:
        onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=path.name + ".data", size_threshold=0)
    else:
        onnx.save_model(model, str(path))
    return path


def cast_weights_model(dtype: str, seed: int = 0) -> onnx.ModelProto:
    """MatMul on weights stored as float16 or bfloat16 and cast to float32 (input [1,16]).

    Storing low-precision weights and computing in float32 is what CPUs do with them;
    onnxruntime's CPU provider has few bfloat16 kernels but casts them.
    """
    import ml_dtypes

    rng = np.random.default_rng(seed)
    np_dtype = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16}[dtype]
    elem = {"float16": TensorProto.FLOAT16, "bfloat16": TensorProto.BFLOAT16}[dtype]
    w1 = rng.standard_normal((16, 32)).astype(np.float32).astype(np_dtype)
    w2 = rng.standard_normal((32, 4)).astype(np.float32).astype(np_dtype)
    nodes = [
        helper.make_node("Cast", ["w1"], ["w1f"], to=TensorProto.FLOAT),
        helper.make_node("MatMul", ["x", "w1f"], ["h"]),
        helper.make_node("Tanh", ["h"], ["t"]),
        helper.make_node("Cast", ["w2"], ["w2f"], to=TensorProto.FLOAT),
        helper.make_node("MatMul", ["t", "w2f"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "cast_weights",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")],
    )
    for t in graph.initializer:
        assert t.data_type == elem
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def quantized_cnn(path: str | os.PathLike, *, seed: int = 0, samples: int = 16,
                  quant_format: str = "QOperator") -> Path:
    """The CNN quantized by onnxruntime's own static quantizer (int8 weights, uint8 acts).

    ``QOperator`` gives QLinearConv/QLinearMatMul-style kernels reading int8 weights,
    float scales, zero points and int32 biases directly; ``QDQ`` gives
    DequantizeLinear nodes in front of float kernels. Written to ``path``.
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    path = Path(path)
    fp32 = path.with_name(path.stem + "_fp32.onnx")
    onnx.save_model(cnn_model(dynamic=False, seed=seed), str(fp32))
    rng = np.random.default_rng(seed + 1)
    data = [{"input": rng.random((1, 1, 8, 8), dtype=np.float32)} for _ in range(samples)]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter(data)

        def get_next(self):  # noqa: ANN202 - onnxruntime's interface
            return next(self.it, None)

    quantize_static(str(fp32), str(path), Reader(),
                    quant_format=getattr(QuantFormat, quant_format),
                    weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8,
                    per_channel=False)
    fp32.unlink()
    return path


def medium_cnn(seed: int = 0) -> onnx.ModelProto:
    """A CIFAR-sized CNN (input [1,3,32,32], ~0.3 M parameters) for benchmarks.

    The default digits CNN infers in ~10 µs, where a fixed microsecond of Python per
    trial shows as 10 %; this one shows the trial overhead on a model whose inference
    is not dominated by call overhead.
    """
    rng = np.random.default_rng(seed)
    f = np.float32

    def w(*shape: int, scale: float) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(f)

    inits = {
        "c1.w": w(32, 3, 3, 3, scale=0.2), "c1.b": w(32, scale=0.05),
        "bn.s": (rng.random(32) + 0.5).astype(f), "bn.b": w(32, scale=0.1),
        "bn.m": w(32, scale=0.1), "bn.v": (rng.random(32) + 0.5).astype(f),
        "c2.w": w(64, 32, 3, 3, scale=0.06), "c2.b": w(64, scale=0.05),
        "c3.w": w(64, 64, 3, 3, scale=0.04), "c3.b": w(64, scale=0.05),
        "fc1.w": w(128, 4096, scale=0.02), "fc1.b": w(128, scale=0.05),
        "fc2.w": w(10, 128, scale=0.1), "fc2.b": w(10, scale=0.05),
    }
    mk = helper.make_node
    nodes = [
        mk("Conv", ["x", "c1.w", "c1.b"], ["c1"], pads=[1, 1, 1, 1]),
        mk("BatchNormalization", ["c1", "bn.s", "bn.b", "bn.m", "bn.v"], ["bn"]),
        mk("Relu", ["bn"], ["r1"]),
        mk("Conv", ["r1", "c2.w", "c2.b"], ["c2"], pads=[1, 1, 1, 1]),
        mk("Relu", ["c2"], ["r2"]),
        mk("MaxPool", ["r2"], ["p2"], kernel_shape=[2, 2], strides=[2, 2]),
        mk("Conv", ["p2", "c3.w", "c3.b"], ["c3"], pads=[1, 1, 1, 1]),
        mk("Relu", ["c3"], ["r3"]),
        mk("MaxPool", ["r3"], ["p3"], kernel_shape=[2, 2], strides=[2, 2]),
        mk("Flatten", ["p3"], ["flat"]),
        mk("Gemm", ["flat", "fc1.w", "fc1.b"], ["h"], transB=1),
        mk("Relu", ["h"], ["rh"]),
        mk("Gemm", ["rh", "fc2.w", "fc2.b"], ["logits"], transB=1),
    ]
    graph = helper.make_graph(
        nodes, "medium_cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])],
        [numpy_helper.from_array(a, n) for n, a in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def fp16_mlp(seed: int = 0) -> onnx.ModelProto:
    """An MLP that computes in float16 end to end (input [1,16] fp16, output [1,10] fp16).

    onnxruntime's CPU provider has no float16 kernels for most of these operators and
    inserts casts to float32 around them, removing the casts between neighbours, so
    inside the whole graph several intermediate values never get rounded to float16.
    Captured as graph outputs they are rounded; a graph tail fed with them then differs
    from the whole graph (what :mod:`radiation.trials` checks before reusing a cut).
    """
    rng = np.random.default_rng(seed)
    h = np.float16
    inits = {"w1": (rng.standard_normal((16, 32)) * 0.5).astype(h),
             "b1": (rng.standard_normal(32) * 0.1).astype(h),
             "w2": (rng.standard_normal((32, 32)) * 0.3).astype(h),
             "w3": (rng.standard_normal((32, 10)) * 0.3).astype(h)}
    mk = helper.make_node
    nodes = [mk("MatMul", ["x", "w1"], ["h1"]), mk("Add", ["h1", "b1"], ["a1"]),
             mk("Tanh", ["a1"], ["t1"]), mk("MatMul", ["t1", "w2"], ["h2"]),
             mk("Sigmoid", ["h2"], ["s2"]), mk("Mul", ["h2", "s2"], ["m2"]),
             mk("MatMul", ["m2", "w3"], ["y"])]
    graph = helper.make_graph(
        nodes, "fp16_mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT16, [1, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT16, [1, 10])],
        [numpy_helper.from_array(a, n) for n, a in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def mobilenet_like(seed: int = 0, *, width: int = 32, blocks: int = 6,
                   size: int = 96) -> onnx.ModelProto:
    """A MobileNet-class CNN with random weights, for timing (input [1,3,size,size]).

    A 3×3 stride-2 stem, then ``blocks`` depthwise-separable blocks (depthwise 3×3
    ``Conv`` with ``group`` = channels, ReLU6 as ``Clip(0, 6)``, pointwise 1×1 ``Conv``,
    ReLU6; every other block strides by 2 and doubles the channels), global average
    pooling and a linear classifier: the operator mix and parameter layout of
    MobileNet v1 (Howard et al. 2017), scaled down to run on a small board.
    """
    rng = np.random.default_rng(seed)
    f = np.float32
    mk = helper.make_node
    inits: dict[str, np.ndarray] = {
        "relu6.lo": np.array(0.0, f), "relu6.hi": np.array(6.0, f)}
    nodes = []

    def conv(x: str, y: str, cin: int, cout: int, k: int, stride: int, group: int) -> None:
        fan_in = cin // group * k * k
        w = rng.standard_normal((cout, cin // group, k, k)) * np.sqrt(2.0 / fan_in)
        inits[y + ".w"], inits[y + ".b"] = w.astype(f), (rng.standard_normal(cout) * 0.05).astype(f)
        pad = k // 2
        nodes.append(mk("Conv", [x, y + ".w", y + ".b"], [y + ".c"], group=group,
                        strides=[stride, stride], pads=[pad, pad, pad, pad]))
        nodes.append(mk("Clip", [y + ".c", "relu6.lo", "relu6.hi"], [y]))

    conv("x", "stem", 3, width, 3, 2, 1)
    x, c = "stem", width
    for b in range(blocks):
        stride, cout = (2, 2 * c) if b % 2 == 1 else (1, c)
        conv(x, f"b{b}.dw", c, c, 3, stride, c)
        conv(f"b{b}.dw", f"b{b}.pw", c, cout, 1, 1, 1)
        x, c = f"b{b}.pw", cout
    nodes.append(mk("GlobalAveragePool", [x], ["gap"]))
    nodes.append(mk("Flatten", ["gap"], ["flat"]))
    inits["fc.w"] = (rng.standard_normal((10, c)) * 0.1).astype(f)
    inits["fc.b"] = (rng.standard_normal(10) * 0.05).astype(f)
    nodes.append(mk("Gemm", ["flat", "fc.w", "fc.b"], ["logits"], transB=1))
    graph = helper.make_graph(
        nodes, "mobilenet_like",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])],
        [numpy_helper.from_array(a, n) for n, a in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def cnn3(seed: int = 0, *, batch: int | str = 1) -> onnx.ModelProto:
    """The 3-conv CNN of the PyTorchFI comparison (input [1,3,32,32], ~0.37 M weights).

    Conv 3→64, 64→128, 128→256 (3×3, pad 1), each followed by Relu and a 2×2 max-pool,
    then Flatten and one Gemm 4096→10 — the layer stack ``bench/bench_pytorchfi.py``
    builds in torch with the same (He-scaled, seeded) weights.
    """
    rng = np.random.default_rng(seed)
    f = np.float32
    inits: dict[str, np.ndarray] = {}
    mk = helper.make_node
    nodes = []
    prev, cin = "x", 3
    for i, cout in enumerate((64, 128, 256), start=1):
        inits[f"conv{i}.weight"] = (rng.standard_normal((cout, cin, 3, 3))
                                    * np.sqrt(2.0 / (cin * 9))).astype(f)
        inits[f"conv{i}.bias"] = (rng.standard_normal(cout) * 0.05).astype(f)
        nodes += [mk("Conv", [prev, f"conv{i}.weight", f"conv{i}.bias"], [f"conv{i}"],
                     pads=[1, 1, 1, 1]),
                  mk("Relu", [f"conv{i}"], [f"relu{i}"]),
                  mk("MaxPool", [f"relu{i}"], [f"pool{i}"], kernel_shape=[2, 2], strides=[2, 2])]
        prev, cin = f"pool{i}", cout
    inits["fc.weight"] = (rng.standard_normal((10, 4096)) * np.sqrt(1.0 / 4096)).astype(f)
    inits["fc.bias"] = (rng.standard_normal(10) * 0.05).astype(f)
    nodes += [mk("Flatten", [prev], ["flat"]),
              mk("Gemm", ["flat", "fc.weight", "fc.bias"], ["logits"], transB=1)]
    graph = helper.make_graph(
        nodes, "cnn3", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, 32, 32])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, 10])],
        [numpy_helper.from_array(a, n) for n, a in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model
