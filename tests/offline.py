"""Running a command with no network, for tests of offline installs."""

from __future__ import annotations

import shutil
import subprocess

DEAD = "http://127.0.0.1:9"  # discard port: any attempt to use the network fails at once


def _unshare_works() -> bool:
    if not shutil.which("unshare"):
        return False
    try:
        return subprocess.run(["unshare", "-rn", "true"], capture_output=True,
                              timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


# A private network namespace with no interfaces, where unshare is allowed; else
# only the dead index URL keeps pip offline.
OFFLINE = ["unshare", "-rn"] if _unshare_works() else []
