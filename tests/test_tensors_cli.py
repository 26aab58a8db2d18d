"""``orbnode tensors``: every fault site of the model, as inject and campaign name them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from node.engine import Engine
from node.models import DEFAULT_MODEL
from orbnode.cli import main


def listing(capsys, *args) -> list[dict]:
    assert main(["tensors", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_weights_match_the_engine_and_bits_are_exact(capsys):
    rows = listing(capsys, "--level", "file")
    engine = Engine(str(DEFAULT_MODEL), threads=1, level="file")
    weights = {r["name"]: r for r in rows if r["kind"] == "weight"}
    assert set(weights) == set(engine.weights)
    for name, arr in engine.weights.items():
        assert weights[name]["bits"] == arr.size * arr.dtype.itemsize * 8
        assert weights[name]["shape"] == list(arr.shape)
        assert weights[name]["live"] == engine.live[name]


def test_activations_carry_the_shapes_one_inference_gives(capsys):
    rows = listing(capsys, "--kind", "activation")
    assert rows and all(r["kind"] == "activation" for r in rows)
    by_name = {r["name"]: r for r in rows}
    engine = Engine(str(DEFAULT_MODEL), threads=1)
    out = engine.run(engine.make_input(np.random.default_rng(0)))[0]
    logits = by_name[engine.output_names[0]]
    assert logits["shape"] == list(out.shape) and logits["dtype"] == out.dtype.name
    assert by_name[engine.input_name]["shape"] == list(engine.input_shape)


def test_text_listing_names_every_tensor(capsys):
    assert main(["tensors"]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].split()[:3] == ["name", "kind", "dtype"]
    assert "fc1.weight" in text and "activation" in text


def test_help_says_what_it_lists(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["tensors", "--help"])
    assert exc.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps the paragraph
    assert "list its fault sites" in text and "orbnode inject --tensor" in text
