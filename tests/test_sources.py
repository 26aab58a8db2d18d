"""Every number in the environment data files and the board profiles has a row in
docs/sources.md, the device table agrees with the boards, and no file cites a document
outside the repository."""

from __future__ import annotations

import os
import re
from fnmatch import fnmatchcase
from pathlib import Path

import tomllib

from firmware_stubs.profiles import list_devices
from node.boards import load_board

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "firmware_stubs" / "data"
BOARDS = ROOT / "node" / "boards"

# What a citation of a document outside this repository looks like: the design notes
# and the shared folder of the workspace it was written in.
OUTSIDE = ("DESIGN.md", "../shared", "shared/DESIGN")
# Text files a citation could hide in; build outputs and environments are not ours.
TEXT_SUFFIXES = {".py", ".toml", ".csv", ".md", ".txt", ".cfg", ".ini", ".yml", ".yaml",
                 ".sh", ".json", ".xml", ".service", ".j2"}
NOT_OURS = {".venv", ".git", "out", "build", "__pycache__", ".pytest_cache", ".ruff_cache",
            ".hypothesis", ".benchmarks"}

# Boards with a product name: a device whose description names one must be that
# board's weight memory (node/boards/*.toml `weight_memory`).
BOARD_PRODUCTS = {"rpi4": "Raspberry Pi 4", "rpi5": "Raspberry Pi 5",
                  "jetson-orin-nano": "Jetson Orin Nano"}


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
    return set(re.findall(r"`([A-Za-z0-9_.*-]+)`", text))


def _covered(key: str, documented: set[str]) -> bool:
    """A row names the key, or a pattern over it (``table.*``, ``modes.*.duty``)."""
    return key in documented or any(
        "*" in pattern and not pattern.startswith("*") and fnmatchcase(key, pattern)
        for pattern in documented
    )


def _missing(paths: list[Path], documented: set[str]) -> list[str]:
    missing = []
    for path in paths:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
        missing += [f"{path.name}: {k}" for k in _numeric_keys(data)
                    if not _covered(k, documented)]
    return missing


def test_every_default_in_the_data_files_has_a_source_row():
    documented = _documented()
    missing = _missing(sorted(DATA.glob("*.toml")), documented)
    assert not missing, "no row in docs/sources.md for " + ", ".join(missing)
    assert "pstar_aluminium.csv" in documented


def test_every_number_in_the_board_profiles_has_a_source_row():
    boards = sorted(BOARDS.glob("*.toml"))
    assert len(boards) >= 4
    missing = _missing(boards, _documented())
    assert not missing, "no row in docs/sources.md for " + ", ".join(missing)


def test_code_defaults_of_the_physics_and_the_policy_have_rows():
    documented = _documented()
    for key in ("NMC_OCV_SOC", "NMC_OCV_V", "eclipse_enter", "eclipse_exit", "safe_margin",
                "eco_margin", "hysteresis", "warm_hysteresis_c"):
        assert key in documented, key


def test_the_check_would_catch_a_new_number():
    documented = _documented()
    assert not _covered("battery.new_thing_w", documented)
    assert not _covered("standby_w", documented)  # a new top-level board number
    assert not _covered("modes.FULL.new_thing", documented)
    assert _covered("modes.ECO.duty", documented) and _covered("cpu.part", documented)


def test_device_descriptions_name_only_boards_whose_memory_they_are():
    devices = tomllib.loads((DATA / "devices.toml").read_text(encoding="utf-8"))
    for board, product in BOARD_PRODUCTS.items():
        memory = load_board(board).weight_memory
        named = [d for d, entry in devices.items() if product in entry["description"]]
        assert named == [memory], f"{product}: weight memory {memory}, devices.toml names {named}"
    for path in BOARDS.glob("*.toml"):
        assert load_board(path.stem).weight_memory in list_devices(), path.name


def test_dram_multi_bit_shares_are_labelled_assumptions():
    """No document gives them (sources.md says so); only the SRAM share is published."""
    rows = [ln for ln in (ROOT / "docs" / "sources.md").read_text(encoding="utf-8").splitlines()
            if ln.startswith("|") and ".multi_bit_share`" in ln]
    dram = [d for d in list_devices() if d != "SRAM"]
    for device in dram:
        row = [ln for ln in rows if f"`{device}.multi_bit_share`" in ln]
        assert len(row) == 1 and "| assumption |" in row[0], device
    text = (DATA / "devices.toml").read_text(encoding="utf-8")
    shares = [ln for ln in text.splitlines() if ln.startswith("multi_bit_share")]
    assert sum("ASSUMPTION" in ln for ln in shares) == len(dram)


def _text_files():
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in NOT_OURS and not d.endswith(".egg-info")]
        for name in files:
            path = Path(folder) / name
            if path.suffix in TEXT_SUFFIXES or name == "Makefile":
                yield path


def test_no_file_cites_a_document_outside_the_repository():
    hits = []
    for path in _text_files():
        if path == Path(__file__):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        hits += [f"{path.relative_to(ROOT)} ({what})" for what in OUTSIDE if what in text]
    assert not hits, "cites a document outside the repository: " + ", ".join(hits)


def test_the_citation_check_reads_docs_and_data():
    seen = {p.relative_to(ROOT).as_posix() for p in _text_files()}
    assert {"docs/sources.md", "firmware_stubs/data/devices.toml", "node/boards/rpi4.toml",
            "README.md", "Makefile"} <= seen
