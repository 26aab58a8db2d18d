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


def _dynamic_import(n: ast.Call) -> str | None:
    """The module a literal ``importlib.import_module("x")`` / ``import_module("x")`` /
    ``__import__("x")`` names; None for any other call, a computed name or a relative one.
    """
    f = n.func
    name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
    if name not in ("import_module", "__import__") or not n.args:
        return None
    arg = n.args[0]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value[:1] != ".":
        return arg.value
    return None


def imports_of(path: Path) -> list[tuple[int, str]]:
    """Each import in ``path`` (any depth) as (line, module path), one per name.

    ``from node import packets, engine`` is two imports, ``node.packets`` and
    ``node.engine``, each judged on its own: an allowed name cannot carry a
    forbidden one past the check. A module named by a string literal to
    ``importlib.import_module`` or ``__import__`` counts as an import too; names
    computed at run time (orbnode/cli.py's loop over ``COMMAND_MODULES``) are
    checked by :func:`test_the_command_modules_are_the_roofs_own`.
    """
    found = []
    for n in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(n, ast.Import):
            found += [(n.lineno, a.name) for a in n.names]
        elif isinstance(n, ast.ImportFrom) and n.level == 0 and n.module:
            found += [(n.lineno, f"{n.module}.{a.name}") for a in n.names]
        elif isinstance(n, ast.Call) and (mod := _dynamic_import(n)) is not None:
            found.append((n.lineno, mod))
    return found


def _allowed(package: str, mod: str) -> bool:
    top = mod.split(".")[0]
    return top not in PACKAGES or top == package or any(
        mod == ok or mod.startswith(ok + ".") for ok in ALLOWED[package])


def violations(package: str) -> list[str]:
    return [f"{path.relative_to(ROOT)}:{line} imports {mod}"
            for path in sorted((ROOT / package).rglob("*.py"))
            for line, mod in imports_of(path)
            if not _allowed(package, mod)]


def imported_packages(package: str) -> set[str]:
    """The other top-level packages that ``package``'s code really imports."""
    return {mod.split(".")[0] for path in (ROOT / package).rglob("*.py")
            for _, mod in imports_of(path)} & (set(PACKAGES) - {package})


@pytest.mark.parametrize("package", PACKAGES)
def test_dependencies_run_one_way(package):
    assert violations(package) == []


def test_no_two_packages_import_each_other():
    """Neither the rules nor the code let two packages import each other."""
    allowed = {p: {q.split(".")[0] for q in ALLOWED[p]} for p in PACKAGES}
    real = {p: imported_packages(p) for p in PACKAGES}
    for edges in (allowed, real):
        for a in PACKAGES:
            for b in edges[a]:
                assert a not in edges[b], f"{a} and {b} import each other"


def test_the_rules_catch_a_violation(tmp_path, monkeypatch):
    """The checker itself: a node module importing radiation is reported."""
    pkg = tmp_path / "node"
    pkg.mkdir()
    (pkg / "bad.py").write_text("def f():\n    from radiation.upsets import Scrubber\n")
    (tmp_path / "firmware_stubs").mkdir()
    (tmp_path / "firmware_stubs" / "bad.py").write_text(
        "from node.engine import Engine\nfrom node import packets, engine\n")
    (pkg / "dynamic.py").write_text(
        "import importlib\nfrom importlib import import_module\n"
        "m = importlib.import_module('firmware_stubs.sim')\n"
        "n = import_module('bench.suite')\no = __import__('orbnode')\n"
        "p = importlib.import_module('.sibling', 'node')\nq = importlib.import_module(m)\n"
        "r = importlib.import_module('numpy')\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert violations("node") == ["node/bad.py:2 imports radiation.upsets.Scrubber",
                                  "node/dynamic.py:3 imports firmware_stubs.sim",
                                  "node/dynamic.py:4 imports bench.suite",
                                  "node/dynamic.py:5 imports orbnode"]
    assert violations("firmware_stubs") == [
        "firmware_stubs/bad.py:1 imports node.engine.Engine",
        "firmware_stubs/bad.py:2 imports node.engine"]  # node.packets beside it is fine
    assert imported_packages("firmware_stubs") == {"node"}


def test_the_command_modules_are_the_roofs_own():
    """orbnode/cli.py loads its commands through ``importlib`` from ``COMMAND_MODULES``:
    names the ast check cannot see, so they are checked here, against the same rules."""
    from orbnode.cli import COMMAND_MODULES

    assert COMMAND_MODULES
    for name in COMMAND_MODULES:
        assert name.startswith("orbnode.") and _allowed("orbnode", name), name
