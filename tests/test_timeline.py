"""The run timeline shows radiation: cumulative upsets, each upset and scrub marked."""

from __future__ import annotations

import matplotlib.pyplot as plt

from firmware_stubs.telemetry_db import HK_COLUMNS, TelemetryDB
from firmware_stubs.timeline import _radiation_panel, plot_timeline
from node import service
from node.packets import PACKETS


def _db(tmp_path) -> TelemetryDB:
    db = TelemetryDB(tmp_path / "t.sqlite")
    db.set_meta("period_s", 100.0)
    db.set_meta("upset_acceleration", 1000.0)
    for i in range(10):
        row = dict.fromkeys(HK_COLUMNS, 0)
        row.update(tick=i, t_s=10.0 * i, mode="FULL", power_source="model", soc=1.0,
                   soc_floor=0.7, upsets=min(i, 3), scrub_repairs=1 if i > 6 else 0)
        db.add_hk(row)
    ids = PACKETS.enums["event"]
    for t in (10.0, 20.0, 30.0):
        db.add_event(0.0, t, ids["upset"], "seu fc1.weight[3] bit 30")
    db.add_event(0.0, 70.0, ids["scrub"], "scrub detected 1, repaired 1 words")
    return db


def test_event_ids_are_the_published_enum():
    ids = PACKETS.enums["event"]
    assert (service.EVENT_HELLO, service.EVENT_MODE, service.EVENT_UPSET,
            service.EVENT_SCRUB) == (ids["hello"], ids["mode"], ids["upset"], ids["scrub"])


def test_radiation_panel_marks_upsets_and_scrubs(tmp_path):
    db = _db(tmp_path)
    fig, ax = plt.subplots()
    import numpy as np

    rows = db.hk_rows()
    _radiation_panel(ax, db, rows, np.array([r["t_s"] for r in rows]) / 100.0, 100.0)
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["upsets (total 3)", "words repaired by scrub (total 1)",
                      "upset event", "scrub repair"]
    marks = ax.get_lines()[2].get_xdata()
    assert list(marks) == [0.1, 0.2, 0.3]
    plt.close(fig)
    out = plot_timeline(db, tmp_path / "timeline.png")
    assert out.stat().st_size > 10_000
