"""Campaign scaling and speed against the clean inference rate (issue 12).

* 2-worker scaling: the same campaign with one and with two local workers (one
  intra-op thread each), end to end; target: two reach >= 1.7 × one. Measured on the
  issue's workload, 20,000 faults of the default model, and on one where a second
  process can pay off: 100,000 weight faults of the 3-conv CNN of
  ``bench_pytorchfi.py``. One worker runs the default-model campaign in well under a
  second, less than a spawned worker's start-up (about 1 s of imports, then its
  sessions): the executor rightly starts none, so the ratio there is about 1 and the
  target is out of reach by construction, on any machine.
* faults/s against clean inferences/s on the default model and on a MobileNet-class
  CNN (:func:`radiation.testmodels.mobilenet_like`, random weights: timing only), with
  and without reuse of clean activations.

Figures go to ``benchmark.extra_info`` and are printed (``meets_target`` included),
never asserted: the machine is shared. Under ``--benchmark-disable`` each case is a
small plain run, silent.
"""

from __future__ import annotations

import itertools

import pytest

from radiation import testmodels as tm
from radiation.campaign.driver import Options, run

_ids = itertools.count()
TARGET = 1.7  # two workers over one, end to end (issue 12)


def _campaign(tmp_path, **kw) -> dict:
    db = tmp_path / f"scale{next(_ids)}.db"
    return run(Options(db=str(db), seed=1, progress=False, **kw))


@pytest.mark.parametrize("model,faults", [("default", 20_000), ("cnn3", 100_000)])
def test_two_workers_scaling(benchmark, capsys, tmp_path, model, faults):
    disabled = getattr(benchmark, "disabled", False)
    if disabled:
        faults = 1_000
    path = None if model == "default" else str(tm.save(tm.cnn3(), tmp_path / "cnn3.onnx"))
    got: dict = {}

    def both() -> None:
        for w in (1, 2):
            got[w] = _campaign(tmp_path, model=path, faults=faults, workers=w, threads=1)

    benchmark.pedantic(both, rounds=1, iterations=1)
    one, two = (got[w]["faults_per_s"] for w in (1, 2))
    info = {"model": model, "faults": faults, "one_worker_faults_per_s": one,
            "two_workers_faults_per_s": two, "one_worker_wall_s": got[1]["session"]["wall_s"],
            "processes_used": got[2]["session"]["workers_seen"],
            "scaling": two / one, "target": TARGET, "meets_target": two / one >= TARGET}
    benchmark.extra_info.update(info)
    if disabled:
        return  # inside `make test`: silent; `make bench` reports
    with capsys.disabled():
        print(f"\n[campaign scaling] {model}, {faults:,} faults: 1 worker {one:,.0f} faults/s "
              f"({info['one_worker_wall_s']:.2f} s), 2 workers {two:,.0f} faults/s "
              f"({info['processes_used']} process(es) used): {two / one:.2f}x, target "
              f"{TARGET}x, meets_target {info['meets_target']}")


@pytest.mark.parametrize("model", ["default", "mobilenet_like"])
@pytest.mark.parametrize("reuse", [True, False])
def test_faults_per_s_against_clean_rate(benchmark, capsys, tmp_path, model, reuse):
    path = None
    if model == "mobilenet_like":
        path = str(tm.save(tm.mobilenet_like(), tmp_path / "mobilenet.onnx"))
    faults = 500 if getattr(benchmark, "disabled", False) else 5_000
    got: dict = {}
    benchmark.pedantic(lambda: got.update(_campaign(tmp_path, model=path, faults=faults,
                                                    reuse=reuse)), rounds=1, iterations=1)
    info = {k: got[k] for k in ("faults_per_s", "worker_faults_per_s", "clean_inferences_per_s",
                                "fault_rate_over_clean_rate")}
    benchmark.extra_info.update({"model": model, "reuse": reuse, **info})
    if getattr(benchmark, "disabled", False):
        return  # inside `make test`: silent; `make bench` reports
    with capsys.disabled():
        print(f"\n[campaign speed] {model}, reuse {'on' if reuse else 'off'}: "
              f"{info['worker_faults_per_s']:,.0f} faults/s vs "
              f"{info['clean_inferences_per_s']:,.0f} clean inferences/s "
              f"(ratio {info['fault_rate_over_clean_rate']:.2f}); end to end "
              f"{info['faults_per_s']:,.0f} faults/s")
