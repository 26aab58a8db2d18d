"""The node's radiation hooks keep their scrub schedule and counts behind a public
interface (:mod:`node.radiation_api`): the service asks whether a scrub is due."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from node.radiation_api import RadiationHooks


class Scrubber:
    def __init__(self) -> None:
        self.passes = 0

    def scrub(self):
        self.passes += 1
        return SimpleNamespace(errors_detected=2, words_repaired=3)


def test_a_scrub_is_due_once_a_period_of_environment_time_has_passed():
    hooks = RadiationHooks(scrubber=Scrubber(), scrub_period_s=10.0)
    assert not hooks.scrub_due(4.0) and hooks.scrub_due(6.0)
    rep = hooks.scrub()
    assert rep.errors_detected == 2 and hooks.scrubber.passes == 1
    assert (hooks.scrub_detected, hooks.scrub_repairs) == (2, 3)
    assert not hooks.scrub_due(9.0)  # the period starts again at the scrub
    assert hooks.scrub_due(1.0)


def test_without_a_scrubber_no_scrub_is_ever_due():
    hooks = RadiationHooks(scrub_period_s=1.0)
    assert not hooks.scrub_due(1e9)
    with pytest.raises(ValueError):
        hooks.scrub()
