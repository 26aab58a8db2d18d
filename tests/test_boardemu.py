"""orbnode board-emu without the emulator: the CPU each board presents, its OS, which
wheels it can install, and the one-line refusals before anything is mounted.
(The emulated board itself: tests/test_boardemu_e2e.py, `make test-board-emu`.)"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.boards import load_board
from node.errors import OrbnodeError
from node.manifest import BUNDLE_FORMAT, BUNDLE_KIND
from orbnode import boardemu_host
from orbnode.boardemu import check_bundle
from orbnode.boardemu_spec import (
    CpuDescription,
    cpu_of,
    emulated_boards,
    emulation_for,
    parse_cpuinfo,
    render_cpuinfo,
    wheel_problems,
)
from orbnode.cli import main
from orbnode.flash_wheels import default_target

RPI4_WHEELS = [
    "onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_aarch64.whl",
    "numpy-2.4.6-cp311-cp311-manylinux_2_27_aarch64.manylinux_2_28_aarch64.whl",
    "protobuf-7.36.2-cp310-abi3-manylinux2014_aarch64.whl",
    "pyserial-3.5-py2.py3-none-any.whl",
    "orbnode-0.1.0-py3-none-any.whl",
]


def test_every_arm64_board_is_emulated():
    assert emulated_boards() == ["jetson-orin-nano", "rpi4", "rpi5"]


@pytest.mark.parametrize("name,core,part", [("rpi4", "Cortex-A72", 0xd08),
                                            ("rpi5", "Cortex-A76", 0xd0b),
                                            ("jetson-orin-nano", "Cortex-A78AE", 0xd42)])
def test_the_cpuinfo_comes_from_the_board_profile(name, core, part):
    emu = emulation_for(name)
    blocks = parse_cpuinfo(render_cpuinfo(emu.cpu))
    assert len(blocks) == load_board(name).cores == emu.cpu.count
    assert [b["processor"] for b in blocks] == [str(i) for i in range(len(blocks))]
    assert all(b["CPU implementer"] == "0x41" and int(b["CPU part"], 16) == part
               and b["CPU architecture"] == "8" for b in blocks)
    assert emu.cpu.core == core
    assert emu.qemu_cpu != "max"  # other kernels than the board's, and much slower


def test_the_rpi4_cpuinfo_reads_as_the_kernel_writes_it():
    text = render_cpuinfo(emulation_for("rpi4").cpu)
    first = text.split("\n\n")[0].splitlines()
    assert first == ["processor\t: 0", "BogoMIPS\t: 108.00",
                     "Features\t: fp asimd evtstrm crc32 cpuid", "CPU implementer\t: 0x41",
                     "CPU architecture: 8", "CPU variant\t: 0x0", "CPU part\t: 0xd08",
                     "CPU revision\t: 3"]


def test_a_board_copy_with_more_cores_presents_more(tmp_path):
    src = Path(load_board("rpi4").source_path).read_text()
    mine = tmp_path / "rpi4-8.toml"
    mine.write_text(src.replace("cores = 4", "cores = 8"))
    assert len(parse_cpuinfo(render_cpuinfo(cpu_of(load_board(str(mine)))))) == 8


@pytest.mark.parametrize("edit", [lambda s: s.split("[cpu]")[0],
                                  lambda s: s.replace("part = 0xd08", 'part = "A72"')])
def test_a_profile_without_a_usable_cpu_table_is_refused(tmp_path, edit):
    mine = tmp_path / "nocpu.toml"
    mine.write_text(edit(Path(load_board("rpi4").source_path).read_text()))
    with pytest.raises(OrbnodeError, match=r"\[cpu\]"):
        cpu_of(load_board(str(mine)))


@given(count=st.integers(1, 64), implementer=st.integers(0, 0xff),
       variant=st.integers(0, 0xf), part=st.integers(0, 0xfff), revision=st.integers(0, 0xf),
       features=st.lists(st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True), max_size=12),
       bogomips=st.floats(0, 1e4, allow_nan=False))
def test_cpuinfo_round_trips(count, implementer, variant, part, revision, features, bogomips):
    cpu = CpuDescription("X", count, implementer, 8, variant, part, revision,
                         " ".join(features), bogomips)
    blocks = parse_cpuinfo(render_cpuinfo(cpu))
    assert len(blocks) == count
    for b in blocks:
        assert int(b["CPU implementer"], 16) == implementer
        assert int(b["CPU variant"], 16) == variant
        assert int(b["CPU part"], 16) == part
        assert int(b["CPU revision"]) == revision
        assert b["Features"] == " ".join(features)
        assert float(b["BogoMIPS"]) == pytest.approx(bogomips, abs=0.006)


@pytest.mark.parametrize("board", ["rpi4", "rpi5", "jetson-orin-nano"])
def test_the_root_runs_the_python_and_libc_flash_targets(board):
    root, target = emulation_for(board).root, default_target(board)
    assert root.python_version == target.python_version
    assert root.platform_tag == target.platforms[0]


def test_unknown_and_x86_boards_are_not_emulated():
    for name in ("x86-workstation", "nope"):
        with pytest.raises(OrbnodeError, match="cannot be emulated"):
            emulation_for(name)


def test_wheels_the_emulated_board_installs_and_those_it_refuses():
    root = emulation_for("rpi4").root
    assert wheel_problems(RPI4_WHEELS, root) == []
    bad = wheel_problems([
        "onnxruntime-1.32.0-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
        "numpy-2.4.6-cp312-cp312-manylinux_2_28_aarch64.whl",  # another Python
        "foo-1.0-cp311-cp311-manylinux_2_38_aarch64.whl",  # newer glibc than bookworm's
        "notawheel.whl",
    ], root)
    assert [w.wheel.split("-")[0] for w in bad] == ["foo", "notawheel.whl", "numpy",
                                                     "onnxruntime"]
    by_name = {w.wheel.split("-")[0]: w for w in bad}
    assert by_name["onnxruntime"].machines == ("x86_64",)
    assert by_name["numpy"].pythons == ("cp312",)
    # The Jetson's Ubuntu 22.04 has glibc 2.35 and Python 3.10: the rpi4 wheels do not fit.
    assert len(wheel_problems(RPI4_WHEELS, emulation_for("jetson-orin-nano").root)) == 2


def _bundle(tmp_path, wheels, board="rpi4", deps=True):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    files = [{"path": f"wheels/{w}", "sha256": "0" * 64, "bytes": 1} for w in wheels]
    (bundle / "manifest.json").write_text(json.dumps({
        "kind": BUNDLE_KIND, "format": BUNDLE_FORMAT, "board": board,
        "dependencies_included": deps, "files": files}))
    return bundle


def test_a_bundle_with_x86_64_wheels_is_refused_in_one_line(tmp_path):
    x86 = [w.replace("manylinux_2_28_aarch64", "manylinux_2_28_x86_64") for w in RPI4_WHEELS]
    with pytest.raises(OrbnodeError) as err:
        check_bundle(_bundle(tmp_path, x86), emulation_for("rpi4"))
    msg = str(err.value)
    assert "x86_64" in msg and "aarch64" in msg and "onnxruntime" in msg and "\n" not in msg
    ok = tmp_path / "ok"
    ok.mkdir()
    assert check_bundle(_bundle(ok, RPI4_WHEELS), emulation_for("rpi4"))["board"] == "rpi4"


@pytest.mark.parametrize("board,deps,match", [("rpi5", True, "flashed for board 'rpi5'"),
                                              ("rpi4", False, "no dependency wheels")])
def test_a_bundle_for_another_board_or_without_deps_is_refused(tmp_path, board, deps, match):
    with pytest.raises(OrbnodeError, match=match):
        check_bundle(_bundle(tmp_path, RPI4_WHEELS, board, deps), emulation_for("rpi4"))


def test_a_board_python_without_wheels_fails_the_flash_in_one_line(monkeypatch, tmp_path):
    import orbnode.flash
    from orbnode.boardemu import flash_bundle

    def no_wheel(opts, log=None):
        raise OrbnodeError("pip download failed (it needs the package index): ERROR: No "
                           "matching distribution found for onnxruntime>=1.18")

    monkeypatch.setattr(orbnode.flash, "build_bundle", no_wheel)
    with pytest.raises(OrbnodeError, match=r"cannot flash the rpi4 bundle .*onnxruntime"):
        flash_bundle("rpi4", tmp_path / "b", log=lambda m: None)


def test_a_root_without_its_archive_keyring_is_one_line(tmp_path):
    from dataclasses import replace

    emu = emulation_for("jetson-orin-nano")
    emu = replace(emu, root=replace(emu.root, keyring=str(tmp_path / "none.gpg")))
    with pytest.raises(OrbnodeError, match="archive keyring .*none.gpg not found"):
        boardemu_host.RootCache(tmp_path / "cache").ensure(emu, log=lambda m: None)
    assert not (tmp_path / "cache").exists()


# ----------------------------------------------------------------------------- host
def test_not_root_is_one_line(monkeypatch):
    monkeypatch.setattr(boardemu_host.os, "geteuid", lambda: 1000)
    with pytest.raises(OrbnodeError, match="needs root"):
        boardemu_host.require_root()


def test_no_namespaces_is_one_line(monkeypatch, tmp_path):
    fake = tmp_path / "unshare"  # what unshare says in a container without CAP_SYS_ADMIN
    fake.write_text("#!/bin/sh\necho 'unshare: unshare failed: Operation not permitted' >&2\n"
                    "exit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    with pytest.raises(OrbnodeError, match="Operation not permitted"):
        boardemu_host.require_namespaces()


def test_no_emulator_is_one_line(monkeypatch):
    monkeypatch.setattr(boardemu_host, "EMULATOR", "qemu-aarch64-static-not-here")
    with pytest.raises(OrbnodeError, match="no emulator.*qemu-user-static"):
        boardemu_host.require_emulator()


def test_an_unregistered_emulator_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setattr(boardemu_host.shutil, "which", lambda name: "/bin/true")
    entry = tmp_path / "qemu-aarch64"
    for text in (None, "disabled\nflags: POF\n", "enabled\nflags: P\n"):
        if text is not None:
            entry.write_text(text)
        with pytest.raises(OrbnodeError, match="not registered with binfmt_misc"):
            boardemu_host.require_emulator(entry)
    entry.write_text("enabled\ninterpreter /x\nflags: POF\n")
    assert boardemu_host.require_emulator(entry) is not None


def test_the_cli_refuses_in_one_line_and_writes_nothing(monkeypatch, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["board-emu", "--board", "x86-workstation", "--out", str(out)]) == 2
    monkeypatch.setattr(boardemu_host.os, "geteuid", lambda: 1000)
    assert main(["board-emu", "--board", "rpi4", "--out", str(out)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "cannot be emulated" in err[0] and "needs root" in err[1]
    assert not out.exists()


def test_the_namespace_script_is_valid_sh():
    res = subprocess.run(["sh", "-n", "-c", boardemu_host.IN_NAMESPACE_SH],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_remove_tree_never_deletes_through_a_mount(monkeypatch, tmp_path):
    victim = tmp_path / "board"
    (victim / "root").mkdir(parents=True)
    monkeypatch.setattr(boardemu_host, "mounts_under", lambda p: [str(victim / "root")])
    with pytest.raises(OrbnodeError, match="is mounted"):
        boardemu_host.remove_tree(victim)
    assert victim.is_dir()
    monkeypatch.undo()
    boardemu_host.remove_tree(victim)
    assert not victim.exists()
