"""The bus watchdog's bench hook and the node's on-board telemetry store."""

from __future__ import annotations

import pytest

from firmware_stubs.watchdog import BusWatchdog, command_power_cycle
from node.errors import OrbnodeError
from node.store import TelemetryStore


def test_reset_command_runs_with_the_reason(tmp_path):
    marker = tmp_path / "cycled"
    cycle = command_power_cycle(f'printf "%s" "$ORBNODE_RESET_REASON" > {marker}')
    assert "printf" in cycle("no housekeeping for 10.2 s")
    assert marker.read_text() == "no housekeeping for 10.2 s"


def test_a_failing_reset_command_is_one_line():
    cycle = command_power_cycle("echo relay not found >&2; exit 3")
    with pytest.raises(OrbnodeError, match=r"exit 3\): relay not found$"):
        cycle("hung")


def test_watchdog_time_must_be_positive():
    with pytest.raises(OrbnodeError):
        BusWatchdog(0.0, lambda reason: None)


def test_store_keeps_the_newest_counts_what_it_pushed_out_and_dumps_oldest_first():
    store = TelemetryStore(3)
    for i in range(5):
        store.put(bytes([i]))
    assert len(store) == 3 and store.stored == 5 and store.overflow == 2
    sent = []
    for raw in store.peek():
        sent.append(raw)
        store.sent()
        if len(sent) == 2:
            break  # the line went down mid-dump: the rest stays, in order
    assert sent == [b"\x02", b"\x03"] and list(store.peek()) == [b"\x04"]
    assert store.dumped == 2
    with pytest.raises(ValueError):
        TelemetryStore(0)
