"""The layering rules of docs/architecture.md, checked on the source with ``ast``.

Dependencies run one way: ``node`` (the board) imports none of the other
packages; ``firmware_stubs`` (the bus) sees only the node's published interface;
``radiation`` may use the node's engine; ``bench`` sits on the libraries;
``orbnode`` (the command line and orchestration) sits on everything.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("node", "firmware_stubs", "radiation", "bench", "orbnode")

# What each package may import of the others (module prefixes).
ALLOWED = {
    "node": (),
    "firmware_stubs": ("node.errors", "node.packets", "node.link", "node.auth",
                       "node.boards", "node.scheduler"),
    "radiation": ("node",),
    "bench": ("node", "radiation", "firmware_stubs"),
    "orbnode": ("node", "radiation", "firmware_stubs", "bench"),
}


def imports_of(path: Path) -> list[tuple[int, str, tuple[str, ...]]]:
    """Each import in ``path`` (any depth): line, module, and the module paths it may mean.

    ``from node import engine`` may mean ``node`` or ``node.engine``; the import is
    allowed when any of its meanings is.
    """
    found = []
    for n in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(n, ast.Import):
            found += [(n.lineno, a.name, (a.name,)) for a in n.names]
        elif isinstance(n, ast.ImportFrom) and n.level == 0 and n.module:
            names = (n.module, *(f"{n.module}.{a.name}" for a in n.names))
            found.append((n.lineno, n.module, names))
    return found


def violations(package: str) -> list[str]:
    def allowed(mod: str) -> bool:
        top = mod.split(".")[0]
        return top not in PACKAGES or top == package or any(
            mod == ok or mod.startswith(ok + ".") for ok in ALLOWED[package])

    return [f"{path.relative_to(ROOT)}:{line} imports {mod}"
            for path in sorted((ROOT / package).rglob("*.py"))
            for line, mod, meanings in imports_of(path)
            if not any(allowed(m) for m in meanings)]


@pytest.mark.parametrize("package", PACKAGES)
def test_dependencies_run_one_way(package):
    assert violations(package) == []


def test_no_two_packages_import_each_other():
    edges = {p: {q.split(".")[0] for q in ALLOWED[p]} for p in PACKAGES}
    for a in PACKAGES:
        for b in edges[a]:
            assert a not in edges[b], f"{a} and {b} may import each other"


def test_the_rules_catch_a_violation(tmp_path, monkeypatch):
    """The checker itself: a node module importing radiation is reported."""
    pkg = tmp_path / "node"
    pkg.mkdir()
    (pkg / "bad.py").write_text("def f():\n    from radiation.upsets import Scrubber\n")
    (tmp_path / "firmware_stubs").mkdir()
    (tmp_path / "firmware_stubs" / "bad.py").write_text("from node.engine import Engine\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert violations("node") == ["node/bad.py:2 imports radiation.upsets"]
    assert violations("firmware_stubs") == ["firmware_stubs/bad.py:1 imports node.engine"]
