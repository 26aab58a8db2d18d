"""Train the node's default model: a small CNN for scikit-learn's 8x8 digits.

Pure numpy (im2col convolution, hand-written backprop, Adam, fixed seed), then the
trained arrays are written as an ONNX graph with ``onnx.helper``. The recorded test
accuracy is measured by running the exported ONNX file through onnxruntime, so it is
what the node really gets. Run from the repository root: ``python scripts/train_digits.py``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run without installing
import node.models as models  # noqa: E402

Params = dict[str, np.ndarray]
OPSET = 17
IR_VERSION = 8  # the IR that opset 17 shipped with: older onnxruntime on boards can load it
BN_EPS = 1e-5
BN_MOMENTUM = 0.1  # weight of the new batch in the running statistics
N_SAMPLE = 64
BATCH, LR, WEIGHT_DECAY = 32, 3e-3, 1e-4


def init_params(rng: np.random.Generator) -> tuple[Params, Params]:
    """He-initialised weights (named as the ONNX initializers) and BN running stats."""
    def he(*shape: int) -> np.ndarray:
        return rng.normal(0.0, np.sqrt(2.0 / np.prod(shape[1:])), shape)

    # Conv layers have no bias: BatchNormalization's shift makes one redundant.
    p = {"conv1.weight": he(8, 1, 3, 3), "conv2.weight": he(16, 8, 3, 3),
         "fc1.weight": he(32, 256), "fc1.bias": np.zeros(32),
         "fc2.weight": he(10, 32), "fc2.bias": np.zeros(10)}
    stats = {}
    for bn, c in (("bn1", 8), ("bn2", 16)):
        p[f"{bn}.scale"], p[f"{bn}.bias"] = np.ones(c), np.zeros(c)
        stats[f"{bn}.mean"], stats[f"{bn}.var"] = np.zeros(c), np.ones(c)
    return p, stats


def im2col(x: np.ndarray) -> np.ndarray:
    """[N,C,H,W] -> [N*H*W, C*9] patches of a 3x3, pad-1 convolution (C-major, like W)."""
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    patches = np.stack([xp[:, :, i:i + h, j:j + w] for i in range(3) for j in range(3)], 2)
    return patches.transpose(0, 3, 4, 1, 2).reshape(n * h * w, c * 9)


def col2im(dcols: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Adjoint of im2col: scatter-add patch gradients back onto the input."""
    n, c, h, w = shape
    d = dcols.reshape(n, h, w, c, 9).transpose(0, 3, 4, 1, 2)
    dxp = np.zeros((n, c, h + 2, w + 2))
    for k in range(9):
        dxp[:, :, k // 3:k // 3 + h, k % 3:k % 3 + w] += d[:, :, k]
    return dxp[:, :, 1:-1, 1:-1]


def conv(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """3x3 stride-1 pad-1 convolution; returns the output and the patches for backprop."""
    n, _, h, wd = x.shape
    cols = im2col(x)
    out = (cols @ w.reshape(w.shape[0], -1).T).reshape(n, h, wd, -1).transpose(0, 3, 1, 2)
    return out, cols


def conv_back(dout: np.ndarray, cols: np.ndarray, w: np.ndarray, x_shape: tuple[int, ...]
              ) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of conv() with respect to its weight and its input."""
    d2 = dout.transpose(0, 2, 3, 1).reshape(-1, w.shape[0])
    return (d2.T @ cols).reshape(w.shape), col2im(d2 @ w.reshape(w.shape[0], -1), x_shape)


def batchnorm(x: np.ndarray, p: Params, stats: Params, name: str, train: bool
              ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """BatchNormalization over (N,H,W); in training also updates the running stats."""
    if train:
        mean, var = x.mean((0, 2, 3)), x.var((0, 2, 3))
        m = x.size / x.shape[1]
        # Running variance is unbiased, as in PyTorch, since that is what inference sees.
        stats[f"{name}.mean"] += BN_MOMENTUM * (mean - stats[f"{name}.mean"])
        stats[f"{name}.var"] += BN_MOMENTUM * (var * m / (m - 1) - stats[f"{name}.var"])
    else:
        mean, var = stats[f"{name}.mean"], stats[f"{name}.var"]
    inv_std = 1.0 / np.sqrt(var + BN_EPS)[None, :, None, None]
    xhat = (x - mean[None, :, None, None]) * inv_std
    out = p[f"{name}.scale"][None, :, None, None] * xhat + p[f"{name}.bias"][None, :, None, None]
    return out, (xhat, inv_std)


def batchnorm_back(dout: np.ndarray, cache: tuple[np.ndarray, np.ndarray], gamma: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of training-mode batchnorm w.r.t. input, scale and bias."""
    xhat, inv_std = cache
    axes = (0, 2, 3)
    dxhat = dout * gamma[None, :, None, None]
    dx = inv_std * (dxhat - dxhat.mean(axes, keepdims=True)
                    - xhat * (dxhat * xhat).mean(axes, keepdims=True))
    return dx, (dout * xhat).sum(axes), dout.sum(axes)


def forward(p: Params, stats: Params, x: np.ndarray, train: bool) -> tuple[np.ndarray, dict]:
    """Logits of the network, and everything backward() needs."""
    c: dict = {"x": x}
    c["c1"], c["cols1"] = conv(x, p["conv1.weight"])
    c["b1"], c["bn1"] = batchnorm(c["c1"], p, stats, "bn1", train)
    c["c2"], c["cols2"] = conv(np.maximum(c["b1"], 0), p["conv2.weight"])
    c["b2"], c["bn2"] = batchnorm(c["c2"], p, stats, "bn2", train)
    r2 = np.maximum(c["b2"], 0)
    n, ch = r2.shape[:2]
    # 2x2 max pool: gather each window's 4 values on the last axis, remember the argmax.
    win = r2.reshape(n, ch, 4, 2, 4, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, ch, 4, 4, 4)
    c["arg"] = win.argmax(-1)
    c["flat"] = np.take_along_axis(win, c["arg"][..., None], -1).reshape(n, -1)
    c["h"] = c["flat"] @ p["fc1.weight"].T + p["fc1.bias"]
    c["hr"] = np.maximum(c["h"], 0)
    return c["hr"] @ p["fc2.weight"].T + p["fc2.bias"], c


def backward(p: Params, c: dict, dlogits: np.ndarray) -> Params:
    """Backpropagate d(loss)/d(logits) through forward()'s cache."""
    g = {"fc2.weight": dlogits.T @ c["hr"], "fc2.bias": dlogits.sum(0)}
    dh = (dlogits @ p["fc2.weight"]) * (c["h"] > 0)
    g["fc1.weight"], g["fc1.bias"] = dh.T @ c["flat"], dh.sum(0)
    dflat = dh @ p["fc1.weight"]
    n, ch = c["b2"].shape[:2]
    dwin = np.zeros((n, ch, 4, 4, 4))
    np.put_along_axis(dwin, c["arg"][..., None], dflat.reshape(n, ch, 4, 4, 1), -1)
    dr2 = dwin.reshape(n, ch, 4, 4, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, ch, 8, 8)
    dc2, g["bn2.scale"], g["bn2.bias"] = batchnorm_back(
        dr2 * (c["b2"] > 0), c["bn2"], p["bn2.scale"])
    g["conv2.weight"], dr1 = conv_back(dc2, c["cols2"], p["conv2.weight"], c["b1"].shape)
    dc1, g["bn1.scale"], g["bn1.bias"] = batchnorm_back(
        dr1 * (c["b1"] > 0), c["bn1"], p["bn1.scale"])
    g["conv1.weight"], _ = conv_back(dc1, c["cols1"], p["conv1.weight"], c["x"].shape)
    return g


def train(x: np.ndarray, y: np.ndarray, seed: int, epochs: int, batch: int = BATCH,
          lr: float = LR, weight_decay: float = WEIGHT_DECAY) -> tuple[Params, Params]:
    """Mini-batch Adam with cosine learning-rate decay; float64 for a stable gradient."""
    rng = np.random.default_rng(seed)
    p, stats = init_params(rng)
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(a) for k, a in p.items()}
    x, step, steps = x.astype(np.float64), 0, epochs * int(np.ceil(len(x) / batch))
    for epoch in range(epochs):
        order, loss_sum = rng.permutation(len(x)), 0.0
        for i in range(0, len(x), batch):
            idx = order[i:i + batch]
            logits, cache = forward(p, stats, x[idx], train=True)
            z = np.exp(logits - logits.max(1, keepdims=True))
            prob = z / z.sum(1, keepdims=True)
            loss_sum += -np.log(prob[np.arange(len(idx)), y[idx]]).sum()
            prob[np.arange(len(idx)), y[idx]] -= 1.0
            grads = backward(p, cache, prob / len(idx))
            step += 1
            rate = lr * 0.5 * (1 + np.cos(np.pi * step / steps))
            for k, gk in grads.items():
                if k.endswith("weight"):  # decay weights only, not BN affine or biases
                    gk = gk + weight_decay * p[k]
                m[k] = 0.9 * m[k] + 0.1 * gk
                v[k] = 0.999 * v[k] + 0.001 * gk * gk
                mhat, vhat = m[k] / (1 - 0.9**step), v[k] / (1 - 0.999**step)
                p[k] -= rate * mhat / (np.sqrt(vhat) + 1e-8)
        if epoch % 5 == 4 or epoch == epochs - 1:
            print(f"epoch {epoch + 1:3d}/{epochs}  train loss {loss_sum / len(x):.4f}")
    return p, stats


def build_onnx(p: Params, stats: Params) -> onnx.ModelProto:
    """The trained arrays as an opset-17 graph; every weight is an initializer."""
    conv_attrs = {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "strides": [1, 1]}
    node = helper.make_node
    nodes = [
        node("Conv", ["input", "conv1.weight"], ["conv1_out"], "conv1", **conv_attrs),
        node("BatchNormalization", ["conv1_out", "bn1.scale", "bn1.bias", "bn1.mean",
             "bn1.var"], ["bn1_out"], "bn1", epsilon=BN_EPS),
        node("Relu", ["bn1_out"], ["relu1_out"], "relu1"),
        node("Conv", ["relu1_out", "conv2.weight"], ["conv2_out"], "conv2", **conv_attrs),
        node("BatchNormalization", ["conv2_out", "bn2.scale", "bn2.bias", "bn2.mean",
             "bn2.var"], ["bn2_out"], "bn2", epsilon=BN_EPS),
        node("Relu", ["bn2_out"], ["relu2_out"], "relu2"),
        node("MaxPool", ["relu2_out"], ["pool_out"], "pool", kernel_shape=[2, 2], strides=[2, 2]),
        node("Flatten", ["pool_out"], ["flat_out"], "flatten", axis=1),
        node("Gemm", ["flat_out", "fc1.weight", "fc1.bias"], ["fc1_out"], "fc1", transB=1),
        node("Relu", ["fc1_out"], ["relu3_out"], "relu3"),
        node("Gemm", ["relu3_out", "fc2.weight", "fc2.bias"], ["logits"], "fc2", transB=1),
    ]
    inits = [numpy_helper.from_array(a.astype(np.float32), k) for k, a in {**p, **stats}.items()]
    graph = helper.make_graph(
        nodes, "digits_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="orbnode scripts/train_digits.py",
                              producer_version="0.1.0")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model


def onnx_accuracy(model: bytes | Path, x: np.ndarray, y: np.ndarray) -> float:
    """Accuracy of a model as onnxruntime (default CPU session) runs it."""
    src = str(model) if isinstance(model, Path) else model
    sess = ort.InferenceSession(src, providers=["CPUExecutionProvider"])
    logits = sess.run(["logits"], {"input": x.astype(np.float32)})[0]
    return float((logits.argmax(1) == y).mean())


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=models.DEFAULT_MODEL)
    ap.add_argument("--metadata", type=Path, default=models.DEFAULT_METADATA)
    ap.add_argument("--sample", type=Path, default=models.DEFAULT_SAMPLE)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=40)
    args = ap.parse_args(argv)

    x_train, x_test, y_train, y_test = models.load_digits_split()
    t0 = time.perf_counter()
    p, stats = train(x_train, y_train, args.seed, args.epochs)
    print(f"trained in {time.perf_counter() - t0:.1f} s")

    model = build_onnx(p, stats)
    accuracy = onnx_accuracy(model.SerializeToString(), x_test, y_test)
    model.doc_string = ("Small CNN for scikit-learn's 8x8 handwritten digits; input is "
                        "pixels / 16.0 as float32 [N,1,8,8], output is 10 class logits.")
    helper.set_model_props(model, {"producer": "orbnode scripts/train_digits.py",
                                   "dataset": "sklearn.datasets.load_digits",
                                   "preprocessing": "pixels / 16.0",
                                   "test_accuracy": f"{accuracy:.6f}"})
    args.model.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, args.model)
    # Metadata must not change the numbers: measure the file as saved once more.
    if onnx_accuracy(args.model, x_test, y_test) != accuracy:
        raise RuntimeError("saved model disagrees with the in-memory model")

    split = (f"sklearn.model_selection.train_test_split(test_size={models.TEST_SIZE}, "
             f"random_state={models.SPLIT_SEED}, stratify=y)")
    meta = {
        "model": args.model.name, "input": "input float32 [N, 1, 8, 8]",
        "output": "logits float32 [N, 10]",
        "dataset": "sklearn.datasets.load_digits (1797 8x8 grey images, 10 classes)",
        "preprocessing": "pixels / 16.0", "split": split,
        "n_train": int(len(y_train)), "n_test": int(len(y_test)),
        "seed": args.seed, "epochs": args.epochs,
        "optimizer": f"Adam, lr {LR} cosine decay, batch {BATCH}, weight decay {WEIGHT_DECAY}",
        "opset": OPSET, "ir_version": IR_VERSION,
        "test_accuracy": accuracy,
        "accuracy_measured_with": f"onnxruntime {ort.__version__} CPUExecutionProvider",
        "parameters": int(sum(a.size for a in p.values())),  # trainable; BN stats are not
        "sha256": hashlib.sha256(args.model.read_bytes()).hexdigest(),
    }
    args.metadata.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    np.savez(args.sample, x=x_test[:N_SAMPLE].astype(np.float32),
             y=y_test[:N_SAMPLE].astype(np.int64))
    print(f"test accuracy (onnxruntime) {accuracy:.4f}; wrote {args.model} "
          f"({args.model.stat().st_size} bytes), {args.metadata}, {args.sample}")


if __name__ == "__main__":
    main()
