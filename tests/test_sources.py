"""Every number in the environment data files has a row in docs/sources.md, and no file
cites a document outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "firmware_stubs" / "data"


def _numeric_keys(table: dict, prefix: str = "") -> list[str]:
    keys = []
    for k, v in table.items():
        if isinstance(v, dict):
            keys += _numeric_keys(v, f"{prefix}{k}.")
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            keys.append(f"{prefix}{k}")
    return keys


def _documented() -> set[str]:
    text = (ROOT / "docs" / "sources.md").read_text(encoding="utf-8")
    keys = set(re.findall(r"`([A-Za-z0-9_.*-]+)`", text))
    return keys


def _covered(key: str, documented: set[str]) -> bool:
    table = key.split(".", 1)[0]
    return key in documented or f"{table}.*" in documented


def test_every_default_in_the_data_files_has_a_source_row():
    documented = _documented()
    missing = []
    for path in sorted(DATA.glob("*.toml")):
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
        missing += [f"{path.name}: {k}" for k in _numeric_keys(data)
                    if not _covered(k, documented)]
    assert not missing, "no row in docs/sources.md for " + ", ".join(missing)
    assert "pstar_aluminium.csv" in documented


def test_the_check_would_catch_a_new_number():
    assert not _covered("battery.new_thing_w", _documented())


def test_no_file_cites_a_document_outside_the_repository():
    hits = []
    for pattern in ("*.py", "*.toml", "*.csv"):
        for path in ROOT.rglob(pattern):
            if ".venv" in path.parts or ".git" in path.parts or path == Path(__file__):
                continue
            if "DESIGN.md" in path.read_text(encoding="utf-8", errors="replace"):
                hits.append(str(path.relative_to(ROOT)))
    assert not hits, "cites DESIGN.md: " + ", ".join(hits)
