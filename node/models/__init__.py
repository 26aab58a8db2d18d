"""The node's bundled models and the data they were trained on.

The default model is a small CNN for scikit-learn's 8x8 handwritten digits, trained by
``scripts/train_digits.py``. The runtime needs only the ``.onnx`` file and the ``.npz``
sample; scikit-learn is imported lazily, by training and tests only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

MODELS_DIR = Path(__file__).resolve().parent
DEFAULT_MODEL = MODELS_DIR / "digits_cnn.onnx"
DEFAULT_METADATA = MODELS_DIR / "digits_cnn.json"
DEFAULT_SAMPLE = MODELS_DIR / "digits_sample.npz"

# The split is part of the model's contract: the recorded accuracy is only
# reproducible with exactly these arguments.
TEST_SIZE = 0.25
SPLIT_SEED = 0


def load_metadata(path: Path = DEFAULT_METADATA) -> dict[str, Any]:
    """Return the training metadata recorded next to the default model."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def load_digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return ``x_train, x_test, y_train, y_test`` preprocessed as in training.

    Images are float32 ``[N, 1, 8, 8]`` scaled by ``pixels / 16.0`` into [0, 1];
    labels are int64. Needs scikit-learn (a dev dependency), imported here so the
    onboard runtime never pays for it.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=TEST_SIZE, random_state=SPLIT_SEED, stratify=y
    )
    return x_train, x_test, y_train, y_test
