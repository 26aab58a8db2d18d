"""`orbnode flash`: what the bundle holds, that its sums are true, and its bad inputs.

The bundle is built once for the module (building the wheel takes seconds), with
``--wheel-only`` so that nothing here needs the package index; bundles with their
dependency wheels are tests/test_flash_install.py's.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from node.boards import BOARD_DIR
from node.models import DEFAULT_MODEL
from orbnode.flash_templates import _device_unit
from orbnode.flash_wheels import expand_platforms, inspect_wheel

ROOT = Path(__file__).resolve().parent.parent


def orbnode(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "orbnode", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_one_line_error(res, *words):
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    for w in words:
        assert w in lines[0]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("flash") / "bundle-rpi4"
    res = orbnode("flash", "--board", "rpi4", "--out", out, "--wheel-only")
    assert res.returncode == 0, res.stderr
    return out, res


@pytest.fixture(scope="module")
def bundle(built):
    return built[0]


@pytest.fixture(scope="module")
def manifest(bundle):
    return json.loads((bundle / "manifest.json").read_text())


def test_progress_on_stderr_and_path_on_stdout(built):
    out, res = built
    assert res.stdout.strip() == str(out)
    assert "building the orbnode wheel" in res.stderr
    assert "bundle ready" in res.stderr
    # Size and contents: every wheel by name, then the rest.
    assert re.search(r"bundle bundle-rpi4: [\d.]+ [kM]B in \d+ files, [\d.]+ [kM]B packed; "
                     r"dependencies NOT included", res.stderr)
    assert re.search(r"[\d.]+ kB  wheels/orbnode-[\d.]+-py3-none-any\.whl", res.stderr)
    assert "keys/ (tc.key)" in res.stderr and "models/ (digits_cnn.onnx)" in res.stderr


def test_manifest_sums_match_every_file(bundle, manifest):
    listed = {f["path"]: f for f in manifest["files"]}
    on_disk = {p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()}
    assert on_disk - {"manifest.json"} == set(listed)
    for rel, entry in listed.items():
        assert sha(bundle / rel) == entry["sha256"], rel
        assert (bundle / rel).stat().st_size == entry["bytes"], rel
    # SHA256SUMS (what install.sh checks) agrees with the manifest.
    sums = dict(reversed(line.split("  ", 1)) for line in
                (bundle / "SHA256SUMS").read_text().splitlines())
    assert sums == {rel: e["sha256"] for rel, e in listed.items() if rel != "SHA256SUMS"}


def test_manifest_describes_board_model_and_targets(bundle, manifest):
    assert manifest["kind"] == "orbnode-bundle" and manifest["format"] == 1
    assert manifest["board"] == "rpi4"
    assert manifest["board_profile"] == "boards/rpi4.toml"
    assert manifest["model"]["path"] == "models/digits_cnn.onnx"
    assert manifest["model"]["sha256"] == sha(DEFAULT_MODEL)
    assert manifest["targets"]["python_version"] == "3.11"
    assert manifest["targets"]["platforms"] == ["manylinux_2_36_aarch64"]
    assert manifest["dependencies_included"] is False and manifest["dependency_wheels"] == []
    assert manifest["bytes_total"] == sum(f["bytes"] for f in manifest["files"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", manifest["created_utc"])
    version = re.search(r'(?m)^version\s*=\s*"([^"]+)"', (ROOT / "pyproject.toml").read_text())
    assert manifest["orbnode_version"] == version.group(1)
    assert any(r.startswith("onnxruntime") for r in manifest["requires"])
    assert not any("extra ==" in r for r in manifest["requires"])  # dev extras stay home


def test_model_and_profile_are_the_shipped_files(bundle):
    assert (bundle / "models" / "digits_cnn.onnx").read_bytes() == DEFAULT_MODEL.read_bytes()
    assert (bundle / "boards" / "rpi4.toml").read_bytes() == (BOARD_DIR / "rpi4.toml").read_bytes()


def test_wheel_holds_the_node_package_model_and_profile(bundle, manifest):
    wheel = bundle / manifest["wheel"]
    assert wheel.name.startswith(f"orbnode-{manifest['orbnode_version']}-py3-none-any")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        entry_points = next(zf.read(n).decode() for n in names
                            if n.endswith(".dist-info/entry_points.txt"))
    for needed in ("node/__init__.py", "orbnode/cli.py", "orbnode/flash.py", "node/selftest.py",
                   "node/engine.py", "node/models/digits_cnn.onnx", "node/models/digits_sample.npz",
                   "node/boards/rpi4.toml", "node/packets/definitions.toml",
                   "radiation/__init__.py", "firmware_stubs/__init__.py"):
        assert needed in names, needed
    assert "orbnode = orbnode.cli:main" in entry_points
    assert not any("__pycache__" in n or n.startswith("tests/") for n in names)
    assert inspect_wheel(wheel, "rpi4.toml").version == manifest["orbnode_version"]


def test_tarball_round_trips(bundle, tmp_path):
    tar_path = bundle.with_name(bundle.name + ".tar.gz")
    with tarfile.open(tar_path) as tar:
        members = tar.getmembers()
        assert {m.name.split("/")[0] for m in members} == {bundle.name}
        assert all(not m.name.startswith("/") and ".." not in m.name.split("/") for m in members)
        assert all(m.uid == 0 and m.gid == 0 for m in members)
        tar.extractall(tmp_path, filter="data")
    copy = tmp_path / bundle.name
    for p in bundle.rglob("*"):
        q = copy / p.relative_to(bundle)
        assert q.exists(), q
        if p.is_file():
            assert q.read_bytes() == p.read_bytes()
            assert (q.stat().st_mode & 0o777) == (p.stat().st_mode & 0o777)
    assert (copy / "install.sh").stat().st_mode & 0o111


def test_unit_runs_the_node_for_the_board(bundle):
    unit = (bundle / "orbnode-node.service").read_text()
    exec_start = next(ln for ln in unit.splitlines() if ln.startswith("ExecStart="))
    assert exec_start.startswith("ExecStart=@PREFIX@/venv/bin/orbnode node ")
    assert "--port /dev/ttyAMA0" in exec_start
    assert "--board @PREFIX@/boards/rpi4.toml" in exec_start
    assert "--model @PREFIX@/models/digits_cnn.onnx" in exec_start
    assert "Description=orbnode onboard AI compute node (board rpi4)" in unit
    assert "After=dev-ttyAMA0.device" in unit
    assert "WantedBy=multi-user.target" in unit
    # The node gets the bundle's key, restarts on failure and is watched by systemd.
    assert exec_start.endswith("--key-file %d/tc.key --state-dir %S/orbnode")
    assert "StateDirectory=orbnode" in unit and "StateDirectoryMode=0700" in unit
    assert "LoadCredential=tc.key:@PREFIX@/etc/tc.key" in unit
    for line in ("Type=notify", "Restart=on-failure", "WatchdogSec=30", "NotifyAccess=main"):
        assert line in unit.splitlines(), line


def test_fresh_key_is_bundled_owner_only_and_printed_once(built, manifest):
    out, res = built
    key = out / "keys" / "tc.key"
    assert key.stat().st_mode & 0o777 == 0o600 and (out / "keys").stat().st_mode & 0o777 == 0o700
    text = key.read_text().strip()
    assert re.fullmatch(r"[0-9a-f]{64}", text)
    assert res.stderr.count(text) == 1 and text not in res.stdout
    assert manifest["key"] == {"path": "keys/tc.key", "installed_at": "@PREFIX@/etc/tc.key",
                               "fingerprint": hashlib.sha256(bytes.fromhex(text)).hexdigest()[:16],
                               "fresh": True}
    with tarfile.open(out.with_name(out.name + ".tar.gz")) as tar:
        member = tar.getmember(f"{out.name}/keys/tc.key")
        assert member.mode & 0o777 == 0o600


def test_install_sh_is_valid_bash_and_offline(bundle):
    script = bundle / "install.sh"
    res = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    text = script.read_text()
    assert not re.search(r"https?://", text, re.I)
    assert not re.search(r"\b(curl|wget)\b|pip3? download|index-url", text)
    assert "umask 077" in text and "chmod 0600" in text  # the key lands owner-only
    pip_installs = [ln for ln in text.splitlines() if re.search(r"-m pip\b.*\binstall\b", ln)]
    assert len(pip_installs) == 2 and all("--no-index" in ln for ln in pip_installs)
    assert "PIP_CONFIG_FILE=/dev/null" in text  # a board's pip.conf cannot add an index
    assert "--isolated" in text  # nor can PIP_* variables
    assert "sha256sum" in text and "--selftest --bundle" in text


def test_rebuild_with_custom_model_port_key_and_prebuilt_wheel(bundle, manifest, tmp_path):
    """An external-data model travels with its data file; --wheel skips the build; a given
    key is the one bundled, and its board path goes into the unit as a systemd credential;
    flashing again over a bundle replaces it."""
    w = numpy_helper.from_array(np.arange(16, dtype=np.float32).reshape(4, 4), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
                              [w])
    src = tmp_path / "src"
    src.mkdir()
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
              src / "tiny.onnx", save_as_external_data=True, location="tiny.bin",
              size_threshold=0)
    out = tmp_path / "b"
    wheel = bundle / manifest["wheel"]
    given = tmp_path / "ground.key"
    given.write_text("ab" * 32 + "\n")
    given.chmod(0o600)  # a key readable by others is refused (as ssh does)
    for _ in range(2):  # the second flash replaces the first bundle
        res = orbnode("flash", "--board", "jetson-orin-nano", "--out", out, "--model",
                      src / "tiny.onnx", "--wheel", wheel, "--port", "/dev/ttyTHS1",
                      "--key-file", given, "--key-path", "/etc/orbnode/tc.key", "--json",
                      "--wheel-only")
        assert res.returncode == 0, res.stderr
    m = json.loads(res.stdout)
    assert m["model"]["files"] == ["models/tiny.onnx", "models/tiny.bin"]
    assert (out / "models" / "tiny.bin").read_bytes() == (src / "tiny.bin").read_bytes()
    assert m["targets"]["python_version"] == "3.10"
    assert m["source"] == {"git_commit": None, "dirty": None}  # prebuilt wheel: unknown
    assert (out / "wheels" / wheel.name).read_bytes() == wheel.read_bytes()
    unit = (out / "orbnode-node.service").read_text()
    assert "LoadCredential=tc.key:/etc/orbnode/tc.key" in unit
    assert "--key-file %d/tc.key" in unit and "--port /dev/ttyTHS1" in unit
    assert "After=dev-ttyTHS1.device" in unit
    assert [p.relative_to(out).as_posix() for p in out.rglob("*.key")] == ["keys/tc.key"]
    assert (out / "keys" / "tc.key").read_text().strip() == "ab" * 32
    assert "ab" * 32 not in res.stderr  # a given key is never printed
    assert m["key"]["fresh"] is False and m["key"]["installed_at"] == "/etc/orbnode/tc.key"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".b.")]  # no scratch left


@pytest.mark.parametrize("args, words", [
    (["--board", "nosuch"], ["unknown board", "rpi4"]),
    (["--board", "rpi4", "--model", "/nonexistent/m.onnx"], ["model file not found"]),
    (["--board", "rpi4", "--model", ROOT / "README.md"], ["not an ONNX model"]),
    (["--board", "rpi4", "--python-version", "3"], ["--python-version"]),
    (["--board", "rpi4", "--wheel", "/nonexistent.whl"], ["wheel not found"]),
    (["--board", "rpi4", "--key-file", "/nonexistent.key"], ["cannot read key file"]),
    (["--board", "rpi4", "--key-path", "etc/tc.key"], ["--key-path", "absolute"]),
    (["--board", "rpi4", "--wheel-only", "--wheelhouse", "."], ["contradict"]),
    (["--board", "rpi4", "--wheelhouse", "/nonexistent-dir"], ["not a directory"]),
    # A platform with no wheel: a local wheelhouse without it (no index needed).
    (["--board", "rpi4", "--wheelhouse", "EMPTY"], ["no wheel of", "Python 3.11",
                                                    "manylinux_2_36_aarch64"]),
])
def test_bad_input_is_one_line_exit_2(tmp_path, args, words):
    empty = tmp_path / "wheelhouse"
    empty.mkdir()
    args = [empty if a == "EMPTY" else a for a in args]
    res = orbnode("flash", "--out", tmp_path / "new" / "b", *args)
    assert_one_line_error(res, *words)
    assert not (tmp_path / "new").exists()  # nothing written, not even the parent
    assert list(empty.iterdir()) == []


def test_board_auto_detects_this_machine(bundle, manifest, tmp_path):
    from node.boards import detect_board

    res = orbnode("flash", "--board", "auto", "--out", tmp_path / "b", "--wheel-only",
                  "--no-tar", "--wheel", bundle / manifest["wheel"])
    assert res.returncode == 0, res.stderr
    assert f"--board auto: {detect_board()} (" in res.stderr
    assert json.loads((tmp_path / "b" / "manifest.json").read_text())["board"] == detect_board()


def test_unwritable_out_is_one_line_exit_2(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert_one_line_error(orbnode("flash", "--board", "rpi4", "--out", blocker / "b"),
                          "cannot write", "not a directory")
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    assert_one_line_error(orbnode("flash", "--board", "rpi4", "--out", precious),
                          "not a bundle")
    assert (precious / "notes.txt").read_text() == "keep me"


def test_manylinux_expansion_admits_older_glibc_tags():
    tags = expand_platforms(["manylinux_2_28_aarch64"])
    assert tags[0] == "manylinux_2_28_aarch64" and tags[-1] == "manylinux2014_aarch64"
    assert "manylinux_2_17_aarch64" in tags and "manylinux_2_16_aarch64" not in tags
    assert expand_platforms(["macosx_11_0_arm64"]) == ["macosx_11_0_arm64"]


def test_device_unit_names_follow_systemd_escaping():
    assert _device_unit("/dev/ttyAMA0") == "dev-ttyAMA0.device"
    assert _device_unit("/dev/serial/by-id/usb-FTDI") == "dev-serial-by\\x2did-usb\\x2dFTDI.device"
