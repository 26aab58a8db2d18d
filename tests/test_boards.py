"""Board profiles: data files, loader, detection, modelled power."""

from __future__ import annotations

import pytest

from firmware_stubs.profiles import load_spacecraft
from node.boards import BoardProfile, ModeSpec, detect_board, list_boards, load_board
from node.errors import OrbnodeError
from node.power.hwmon import hwmon_specs

BOARDS = ("rpi4", "rpi5", "jetson-orin-nano", "x86-workstation")


def test_all_four_boards_ship():
    assert set(BOARDS) <= set(list_boards())


@pytest.mark.parametrize("name", BOARDS)
def test_profile_is_complete_and_sane(name):
    b = load_board(name)
    assert isinstance(b, BoardProfile) and b.name == name
    assert {"FULL", "ECO", "SAFE"} <= set(b.modes)
    assert all(isinstance(m, ModeSpec) and 0 <= m.duty <= 1 for m in b.modes.values())
    assert 0 < b.idle_w < b.load_w and b.cores >= 1
    assert b.temp_resume_c < b.temp_warn_c <= b.temp_max_c
    assert b.heat_capacity_j_per_k > 0 and b.strap_conductance_w_per_k > 0
    # every sensor entry parses; boards without a power sensor of their own name none
    # (tests/test_power_sensors.py checks which)
    hwmon_specs(b.power_sensors)
    load_spacecraft(b.default_spacecraft)  # its spacecraft exists
    # modelled power decreases FULL -> ECO -> SAFE and stays within idle..load
    p = [b.modelled_power_w(m) for m in ("FULL", "ECO", "SAFE")]
    assert b.load_w >= p[0] > p[1] > p[2] >= b.idle_w


def test_published_figures():
    rpi4 = load_board("rpi4")
    assert (rpi4.idle_w, rpi4.load_w) == (2.9, 6.4)  # rpi4.toml comment: measured by others
    assert rpi4.modelled_power_w("FULL") == pytest.approx(6.4)
    jet = load_board("jetson-orin-nano")
    caps = {m: jet.modes[m].power_cap_w for m in ("FULL", "ECO", "SAFE")}
    assert caps == {"FULL": 25.0, "ECO": 15.0, "SAFE": 7.0}  # nvpmodel 25/15/7 W
    assert jet.modelled_power_w("SAFE") <= 7.0
    assert jet.modelled_power_w("FULL") <= 25.0
    # FULL: one single-threaded stream per core; ECO: one stream on one core.
    full, eco = rpi4.modes["FULL"], rpi4.modes["ECO"]
    assert (full.threads, full.workers) == (1, 0) and (eco.threads, eco.workers) == (1, 1)


def test_modelled_power_formula():
    b = load_board("rpi4")
    # ECO: one of four cores, half the time
    assert b.modelled_power_w("ECO") == pytest.approx(2.9 + 3.5 * 0.5 * 0.25)
    assert b.modelled_power_w("FULL", busy=0.0) == pytest.approx(2.9)
    with pytest.raises(OrbnodeError):
        b.modelled_power_w("TURBO")


def test_load_by_path(tmp_path):
    src = load_board("rpi5").source_path
    copy = tmp_path / "mine.toml"
    copy.write_text(open(src).read())
    assert load_board(str(copy)).name == "rpi5"


@pytest.mark.parametrize(
    "content",
    [
        "not = [valid toml",
        'name = "x"\n',
        'name="x"\ndescription="d"\nidle_w=5\nload_w=2\ncores=4\ntemp_warn_c=70\ntemp_max_c=80\n'
        'temp_resume_c=60\nheat_capacity_j_per_k=10\ndefault_spacecraft="cubesat-3u"\n'
        "[modes.FULL]\nthreads=0\nduty=1\n[modes.ECO]\nthreads=1\nduty=0.5\n"
        "[modes.SAFE]\nthreads=1\nduty=0.1\n",
        'name="x"\ndescription="d"\nidle_w=2\nload_w=5\ncores=4\ntemp_warn_c=70\ntemp_max_c=80\n'
        'temp_resume_c=60\nheat_capacity_j_per_k=10\ndefault_spacecraft="cubesat-3u"\n'
        "[modes.FULL]\nthreads=0\nduty=1\n[modes.ECO]\nthreads=1\nduty=1.5\n"
        "[modes.SAFE]\nthreads=1\nduty=0.1\n",
        b"\xff\xfe\x00garbage",
    ],
)
def test_bad_files_give_one_line_errors(tmp_path, content):
    p = tmp_path / "bad.toml"
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content)
    with pytest.raises(OrbnodeError) as exc:
        load_board(str(p))
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("name", ["nope", "", "/no/such/file.toml", "missing.toml"])
def test_bad_names(name):
    with pytest.raises(OrbnodeError) as exc:
        load_board(name)
    assert "\n" not in str(exc.value)


def test_detect_board(tmp_path):
    def fake(model: str | None = None, tegra: bool = False):
        root = tmp_path / f"r{len(list(tmp_path.iterdir()))}"
        (root / "proc/device-tree").mkdir(parents=True)
        (root / "etc").mkdir()
        if model is not None:
            (root / "proc/device-tree/model").write_bytes(model.encode() + b"\x00")
        if tegra:
            (root / "etc/nv_tegra_release").write_text("# R36 (release), REVISION: 4.0")
        return str(root)

    assert detect_board(fake("Raspberry Pi 4 Model B Rev 1.4")) == "rpi4"
    assert detect_board(fake("Raspberry Pi 5 Model B Rev 1.0")) == "rpi5"
    assert detect_board(fake("NVIDIA Jetson Orin Nano Developer Kit")) == "jetson-orin-nano"
    assert detect_board(fake(None, tegra=True)) == "jetson-orin-nano"
    assert detect_board(fake(None)) == "x86-workstation"
    assert detect_board() in BOARDS


def test_detection_evidence_names_what_was_read(tmp_path):
    from node.boards import detect_board_evidence

    root = tmp_path / "pi"
    (root / "proc/device-tree").mkdir(parents=True)
    (root / "proc/device-tree/model").write_bytes(b"Raspberry Pi 4 Model B Rev 1.4\x00")
    assert detect_board_evidence(str(root)) == \
        "/proc/device-tree/model: Raspberry Pi 4 Model B Rev 1.4"
    jetson = tmp_path / "jetson"
    (jetson / "etc").mkdir(parents=True)
    (jetson / "etc/nv_tegra_release").write_text("# R36 (release), REVISION: 4.0\nmore\n")
    assert detect_board_evidence(str(jetson)) == \
        "/etc/nv_tegra_release: # R36 (release), REVISION: 4.0"
    assert "workstation" in detect_board_evidence(str(tmp_path / "none"))
