"""The dependency split: the base install is exactly what the board-side code imports.

Read from the source with ``ast`` (every import, also the lazy ones inside functions),
so a new third-party import in the node that is not a base dependency fails here,
before a board finds out. The real proof that the base install suffices is
tests/test_flash_install.py, which installs a bundle's wheels alone and runs the node.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from node.selftest import PACKAGES
from orbnode.cli import HOST_ONLY_MODULES, missing_extra

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
FIRST_PARTY = {"node", "radiation", "firmware_stubs", "bench", "orbnode"}
# Import name -> distribution name where they differ.
DIST_OF = {"serial": "pyserial", "ml_dtypes": "ml-dtypes", "tomli": "tomli"}
# What a board runs: the node package, the CLI modules of node/tc/keygen, and the
# radiation modules `orbnode node` hands the node (in-flight upsets and scrubbing).
BOARD_SIDE = [*sorted((ROOT / "node").rglob("*.py")),
              ROOT / "orbnode" / "cli.py", ROOT / "orbnode" / "__init__.py",
              ROOT / "orbnode" / "__main__.py", ROOT / "orbnode" / "options.py",
              ROOT / "orbnode" / "node_commands.py",
              ROOT / "radiation" / "upsets.py", ROOT / "radiation" / "bits.py"]


def _names(reqs: list[str]) -> set[str]:
    return {re.split(r"[<>=!~; \[]", r, maxsplit=1)[0].strip().lower() for r in reqs}


BASE = _names(PROJECT["dependencies"])
HOST = _names(PROJECT["optional-dependencies"]["host"])


def third_party_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return {m for m in found
            if m not in FIRST_PARTY and m not in sys.stdlib_module_names and m != "__future__"}


def test_board_side_imports_only_base_dependencies():
    used: dict[str, set[str]] = {}
    for path in BOARD_SIDE:
        for mod in third_party_imports(path):
            used.setdefault(DIST_OF.get(mod, mod).lower(), set()).add(
                path.relative_to(ROOT).as_posix())
    # sklearn is imported only to retrain the default model (scripts/, a dev task).
    used.pop("sklearn", None)
    outside = {dist: sorted(where) for dist, where in used.items() if dist not in BASE}
    assert not outside, f"board-side code imports non-base packages: {outside}"


def test_every_base_dependency_is_used_by_the_board_side():
    used = {DIST_OF.get(m, m).lower() for p in BOARD_SIDE for m in third_party_imports(p)}
    assert BASE - used == set(), "base dependencies nothing on the board imports"


def test_host_only_parts_are_an_extra_and_not_in_base():
    assert {"matplotlib", "scipy", "sgp4", "tqdm"} <= HOST
    assert not HOST & BASE
    assert {DIST_OF.get(m, m) for m in HOST_ONLY_MODULES} == HOST
    assert set(HOST_ONLY_MODULES.values()) == {"host"}
    for mod in ("sgp4", "matplotlib.pyplot", "scipy.stats", "tqdm"):
        assert missing_extra(mod) == "host"
    assert missing_extra("numpy") is None and missing_extra("nosuchmodule") is None


def test_selftest_checks_the_base_packages():
    assert {dist for _, dist in PACKAGES} == BASE - {"tomli"}


def test_make_install_adds_the_host_extra():
    make = (ROOT / "Makefile").read_text()
    assert "-e '.[host,dev]'" in make
