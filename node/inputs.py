"""Inputs the job loop feeds: real data from ``--input`` or the bundled sample."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from node.engine import Engine
from node.errors import OrbnodeError
from node.models import DEFAULT_MODEL, DEFAULT_SAMPLE


def load_array_file(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Read ``.npy`` or ``.npz`` (keys ``x`` and optional ``y``; else the first array)."""
    p = Path(path)
    if not p.is_file():
        raise OrbnodeError(f"input file not found: {p}")
    try:
        data = np.load(p, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise OrbnodeError(f"{p} is not a .npy/.npz array file ({type(exc).__name__})") from None
    if isinstance(data, np.ndarray):
        return data, None
    with data:
        if not data.files:
            raise OrbnodeError(f"{p} holds no arrays")
        x = data["x"] if "x" in data.files else data[data.files[0]]
        y = data["y"] if "y" in data.files else None
    return x, y


def file_shape(path: str | Path | None) -> tuple[int, ...] | None:
    """The shape of the samples array in an input file (None without a file): it
    fixes a model's dynamic dimensions when the ranks agree (Engine ``shape_hint``)."""
    if path is None:
        return None
    return tuple(load_array_file(path)[0].shape)


def load_inputs(engine: Engine, path: str | Path | None = None,
                rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Samples shaped ``[n, *engine.input_shape[1:]]`` and labels if known.

    Without ``path``: the bundled digits sample for the default model, otherwise
    64 random samples (the node still does real work; accuracy is then unknown).
    """
    if path is None and engine.model_path.resolve() == DEFAULT_MODEL.resolve():
        path = DEFAULT_SAMPLE
    sample_shape = tuple(engine.input_shape[1:])
    if path is None:
        rng = rng or np.random.default_rng(0)
        xs = np.stack([engine.make_input(rng)[0] for _ in range(64)])
        return xs, None
    x, y = load_array_file(path)
    if tuple(x.shape) == tuple(engine.input_shape):
        x = x.reshape((-1,) + sample_shape) if x.shape[0] != 1 or not sample_shape else x
    if tuple(x.shape[1:]) != sample_shape:
        if tuple(x.shape) == sample_shape:  # a single sample without batch axis
            x = x[None]
        else:
            raise OrbnodeError(f"input array of shape {tuple(x.shape)} does not fit the model "
                               f"input {engine.input_name!r} {tuple(engine.input_shape)}")
    try:
        x = x.astype(engine.input_dtype, casting="same_kind")
    except TypeError:
        raise OrbnodeError(f"input array dtype {x.dtype} cannot feed a "
                           f"{engine.input_dtype} input") from None
    if len(x) == 0:
        raise OrbnodeError(f"input file {path} holds no samples")
    if y is not None and len(y) != len(x):
        y = None
    return np.ascontiguousarray(x), y
