"""The bench's default model: MobileNet v1 with random weights, built with ``onnx.helper``.

MobileNet v1 (Howard et al. 2017, "MobileNets: Efficient Convolutional Neural Networks
for Mobile Vision Applications", arXiv:1704.04861, Table 1): a 3x3 stride-2 convolution,
13 depthwise-separable blocks (3x3 depthwise + 1x1 pointwise, each followed by batch
normalisation and ReLU6), global average pooling and a 1000-way classifier. The width
multiplier ``alpha`` scales every channel count, ``resolution`` the input side;
MobileNet-0.5-128 costs 49 M multiply-adds and has 1.3 M parameters (ibid., Table 7).

The cost of inference does not depend on the weights' values, so random weights give
the real workload of the architecture; the graph is what an export from a framework
looks like (Conv, BatchNormalization, Clip; the runtime fuses them). Weights are drawn
He-normal (std = sqrt(2 / fan_in)) from a fixed seed, so the file is the same bytes on
every machine. ``python scripts/make_mobilenet.py`` writes it; the bench does so itself.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from node.manifest import sha256_file

OPSET = 17
IR_VERSION = 8  # opset 17's IR: older onnxruntime on boards loads it
# (stride, output channels at alpha = 1) of the 13 depthwise-separable blocks, Table 1.
BLOCKS = ((1, 64), (2, 128), (1, 128), (2, 256), (1, 256), (2, 512), (1, 512), (1, 512),
          (1, 512), (1, 512), (1, 512), (2, 1024), (1, 1024))
CLASSES = 1000
DEFAULT_ALPHA = 0.5
DEFAULT_RESOLUTION = 128


def model_name(alpha: float = DEFAULT_ALPHA, resolution: int = DEFAULT_RESOLUTION) -> str:
    return f"mobilenet_v1_{alpha:g}_{resolution}_random.onnx"


class _Builder:
    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.clip_bounds = False

    def init(self, name: str, arr: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(arr.astype(np.float32), name))
        return name

    def conv_bn_relu6(self, x: str, name: str, c_in: int, c_out: int, k: int, stride: int,
                      group: int = 1) -> str:
        fan_in = (c_in // group) * k * k
        w = self.rng.normal(0.0, np.sqrt(2.0 / fan_in), (c_out, c_in // group, k, k))
        self.nodes.append(helper.make_node(
            "Conv", [x, self.init(f"{name}.weight", w)], [f"{name}.conv"], group=group,
            kernel_shape=[k, k], strides=[stride, stride], pads=[k // 2] * 4))
        bn = [self.init(f"{name}.bn.{p}", v) for p, v in (
            ("scale", self.rng.uniform(0.5, 1.5, c_out)), ("bias", self.rng.normal(0, 0.1, c_out)),
            ("mean", self.rng.normal(0, 0.1, c_out)), ("var", self.rng.uniform(0.5, 1.5, c_out)))]
        self.nodes.append(helper.make_node("BatchNormalization", [f"{name}.conv", *bn],
                                           [f"{name}.bn"], epsilon=1e-3))
        if not self.clip_bounds:
            self.init("relu6.min", np.array(0.0))
            self.init("relu6.max", np.array(6.0))
            self.clip_bounds = True
        self.nodes.append(helper.make_node("Clip", [f"{name}.bn", "relu6.min", "relu6.max"],
                                           [f"{name}.out"]))
        return f"{name}.out"


def build_mobilenet_v1(alpha: float = DEFAULT_ALPHA, resolution: int = DEFAULT_RESOLUTION,
                       seed: int = 0) -> onnx.ModelProto:
    """MobileNet v1 at width ``alpha`` and input ``resolution``, random weights from ``seed``."""
    if not 0 < alpha <= 1 or resolution < 32 or resolution % 32:
        raise ValueError("alpha in (0, 1] and resolution a multiple of 32 (>= 32)")
    b = _Builder(seed)
    c = max(8, int(32 * alpha))
    x = b.conv_bn_relu6("input", "conv0", 3, c, 3, 2)
    for i, (stride, width) in enumerate(BLOCKS, start=1):
        out = max(8, int(width * alpha))
        x = b.conv_bn_relu6(x, f"block{i}.dw", c, c, 3, stride, group=c)
        x = b.conv_bn_relu6(x, f"block{i}.pw", c, out, 1, 1)
        c = out
    b.nodes.append(helper.make_node("GlobalAveragePool", [x], ["pool"]))
    b.nodes.append(helper.make_node("Flatten", ["pool"], ["features"], axis=1))
    w = b.rng.normal(0.0, np.sqrt(1.0 / c), (c, CLASSES))
    b.nodes.append(helper.make_node("Gemm", ["features", b.init("fc.weight", w),
                                             b.init("fc.bias", np.zeros(CLASSES))], ["logits"]))
    b.nodes.append(helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1))
    graph = helper.make_graph(
        b.nodes, f"mobilenet_v1_{alpha:g}_{resolution}",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, resolution, resolution])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [1, CLASSES])],
        b.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="orbnode bench.mobilenet")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


def parameters(model: onnx.ModelProto) -> int:
    return int(sum(np.prod(t.dims) for t in model.graph.initializer))


def ensure_model(directory: Path, alpha: float = DEFAULT_ALPHA,
                 resolution: int = DEFAULT_RESOLUTION, seed: int = 0) -> Path:
    """Write the model into ``directory`` unless the same bytes are already there."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / model_name(alpha, resolution)
    data = build_mobilenet_v1(alpha, resolution, seed).SerializeToString()
    if not path.is_file() or sha256_file(path) != hashlib.sha256(data).hexdigest():
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    return path
