"""Scheduler: mode choice and hysteresis."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from node.scheduler import MODES, Scheduler, SchedulerConfig

CFG = SchedulerConfig(temp_warn_c=70.0, temp_max_c=85.0, temp_resume_c=75.0)


def decide(s, ill=1.0, soc=1.0, floor=0.7, temp=20.0, shed=False):
    return s.update(illumination=ill, soc=soc, soc_floor=floor, temp_c=temp, load_shed=shed).mode


def test_sunlit_full_eclipse_eco():
    s = Scheduler(CFG)
    assert decide(s) == "FULL"
    assert decide(s, ill=0.0) == "ECO"
    assert decide(s, ill=1.0) == "FULL"


def test_eclipse_hysteresis_in_penumbra():
    s = Scheduler(CFG)
    assert decide(s, ill=0.5) == "FULL"  # not yet in eclipse
    assert decide(s, ill=0.2) == "ECO"
    assert decide(s, ill=0.5) == "ECO"  # between thresholds: stays
    assert decide(s, ill=0.8) == "FULL"


def test_battery_near_floor_goes_safe_and_needs_margin_to_leave():
    s = Scheduler(CFG)
    assert decide(s, soc=0.74) == "SAFE"  # within 5 % of the 70 % floor
    assert decide(s, soc=0.76) == "SAFE"  # hysteresis: not above 0.80 yet
    assert decide(s, soc=0.81) == "ECO"   # above safe band, still in reserve band
    assert decide(s, soc=0.95) == "FULL"


def test_temperature_throttles_with_hysteresis():
    s = Scheduler(CFG)
    assert decide(s, temp=72.0) == "ECO"
    assert decide(s, temp=86.0) == "SAFE"
    assert decide(s, temp=80.0) == "SAFE"  # still above resume
    assert decide(s, temp=74.0) == "ECO"   # resumed, but warm latch holds until 65
    assert decide(s, temp=60.0) == "FULL"


def test_load_shed_forces_safe():
    s = Scheduler(CFG)
    assert decide(s, shed=True) == "SAFE"


@given(st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1), st.floats(-40, 120)), max_size=50))
def test_always_a_valid_mode_and_safe_when_critical(seq):
    s = Scheduler(CFG)
    for ill, soc, temp in seq:
        mode = decide(s, ill=ill, soc=soc, floor=0.7, temp=temp)
        assert mode in MODES
        if soc - 0.7 <= CFG.safe_margin or temp >= CFG.temp_max_c:
            assert mode == "SAFE"


def test_the_wire_enumerates_the_modes_the_policy_returns():
    """MODES (the policy's codes) and the packet definitions' mode enums are one list."""
    from node.packets import PACKETS

    assert PACKETS.enums["mode"] == {m: code for code, m in enumerate(MODES)}
    assert {m: PACKETS.enums["set_mode"][m] for m in MODES} == PACKETS.enums["mode"]


def test_warm_latch_leaves_by_the_configured_hysteresis():
    cfg = SchedulerConfig(temp_warn_c=60.0, temp_max_c=80.0, temp_resume_c=70.0,
                          warm_hysteresis_c=2.0)
    s = Scheduler(cfg)
    assert s.update(illumination=1.0, soc=1.0, soc_floor=0.3, temp_c=60.0).mode == "ECO"
    assert s.update(illumination=1.0, soc=1.0, soc_floor=0.3, temp_c=58.5).mode == "ECO"
    assert s.update(illumination=1.0, soc=1.0, soc_floor=0.3, temp_c=57.9).mode == "FULL"
