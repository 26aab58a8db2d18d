"""Campaign throughput: faults per second against clean inferences per second.

Each case runs a real ``orbnode campaign`` (in process, fresh database) and reports
what its summary measured: the workers' fault-trial rate and their clean-inference
rate, timed side by side chunk after chunk on the same sessions
(:mod:`radiation.campaign.runner`), their ratio, and the end-to-end rate (planning
excluded; worker start-up, classification and database writes included). With
``reuse`` a trial runs only the graph after the fault, so it can beat a clean run.
Reported in ``benchmark.extra_info`` and printed, never asserted: the machine is
shared. Under ``--benchmark-disable`` each case is a quick plain run.
"""

from __future__ import annotations

import itertools

import pytest

from radiation.campaign.driver import Options, run

_ids = itertools.count()


@pytest.mark.parametrize("target,workers,reuse", [
    ("weights", 1, True), ("weights", 2, True), ("weights", 1, False),
    ("activations", 1, True), ("activations", 2, True), ("activations", 1, False),
])
def test_campaign_rate(benchmark, capsys, tmp_path, target, workers, reuse):
    faults = 2_000 if getattr(benchmark, "disabled", False) else 100_000
    result: dict = {}

    def campaign() -> None:
        db = tmp_path / f"bench{next(_ids)}.db"
        result.update(run(Options(db=str(db), target=target, faults=faults, workers=workers,
                                  reuse=reuse, seed=1, progress=False)))

    benchmark.pedantic(campaign, rounds=1, iterations=1)
    assert result["faults_done"] == faults
    info = {
        "target": target, "workers": workers, "reuse": reuse, "faults": faults,
        "faults_per_s": result["faults_per_s"],
        "worker_faults_per_s": result["worker_faults_per_s"],
        "clean_inferences_per_s": result["clean_inferences_per_s"],
        "fault_rate_over_clean_rate": result["fault_rate_over_clean_rate"],
        "end_to_end_over_clean": result["faults_per_s"] / result["clean_inferences_per_s"],
        "outcomes": result["outcomes"],
    }
    benchmark.extra_info.update(info)
    if getattr(benchmark, "disabled", False):
        return  # inside `make test`: silent; `make bench` reports
    with capsys.disabled():
        print(f"\n[campaign] {target}, {workers} worker(s), reuse {'on' if reuse else 'off'}, "
              f"{faults} faults: "
              f"{info['worker_faults_per_s']:,.0f} faults/s vs "
              f"{info['clean_inferences_per_s']:,.0f} clean inferences/s side by side "
              f"(ratio {info['fault_rate_over_clean_rate']:.2f}); end to end "
              f"{info['faults_per_s']:,.0f} faults/s "
              f"(ratio {info['end_to_end_over_clean']:.2f}); {result['outcomes']}")
