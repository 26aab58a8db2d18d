"""The machine a measurement ran on, as recorded beside the numbers (``bench.json``, a
campaign's sessions): figures from different machines must not be compared unseen."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def machine() -> dict:
    """OS, architecture, CPU model, logical cores and the load when it was asked."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware")):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"system": platform.platform(), "machine": platform.machine(), "cpu": cpu,
            "logical_cores": os.cpu_count(),
            "load_average_1min_at_start": os.getloadavg()[0] if hasattr(os, "getloadavg")
            else None}
