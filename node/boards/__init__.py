"""Board profiles: what a compute board draws, how hot it may run, where its sensors are.

Profiles are data (``node/boards/*.toml``), not code; the numbers and their sources
live in the comments of each file and in docs/sources.md, "Boards". :func:`load_board`
reads one by name or path, :func:`detect_board` guesses which board this process runs on.

Modelled node power (used when no power sensor can be read)::

    P = idle_w + (load_w - idle_w) * duty * min(workers * threads, cores) / cores,
    capped at power_cap_w

i.e. the dynamic power scales with the share of cores kept busy (a first-order CMOS
model, P_dyn proportional to active cores at fixed clock);
see :meth:`BoardProfile.modelled_power_w`.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from node.errors import OrbnodeError, message_line
from node.scheduler import MODES

BOARD_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class ModeSpec:
    """One power mode of the node."""

    name: str  # "FULL" | "ECO" | "SAFE"
    threads: int  # intra-op threads per inference; 0 means "all cores of this machine"
    duty: float  # fraction of wall time the job loop is busy, 0..1
    power_cap_w: float | None = None  # e.g. Jetson nvpmodel 7/15/25 W; None if n/a
    workers: int = 1  # parallel inference streams; 0 means "one per core of this machine"


@dataclass(frozen=True)
class BoardProfile:
    """Whole-board power, thermal limits and sensor paths of one compute board."""

    name: str
    description: str
    idle_w: float  # whole-board power, idle
    load_w: float  # whole-board power, all cores busy
    cores: int
    modes: dict[str, ModeSpec]  # contains FULL, ECO, SAFE
    temp_max_c: float  # scheduler throttles to SAFE above this ...
    temp_resume_c: float  # ... and returns below this
    temp_warn_c: float  # scheduler drops FULL -> ECO above this
    heat_capacity_j_per_k: float  # board + thermal strap, for the lumped thermal node
    power_sensors: dict[str, str]
    default_spacecraft: str  # a firmware_stubs/data spacecraft toml sized for this board
    strap_conductance_w_per_k: float = 0.25  # board -> structure conduction (no convection)
    temp_sensor_path: str = "/sys/class/thermal/thermal_zone0/temp"
    weight_memory: str = "LPDDR4"  # memory technology holding the weights (upset model)
    source_path: str = field(default="", compare=False)

    def modelled_power_w(self, mode: str, busy: float | None = None) -> float:
        """Modelled board power in ``mode``.

        ``P = idle + (load - idle) * busy * min(workers * threads, cores) / cores`` with
        ``busy`` the mode's duty unless given, then capped at the mode's ``power_cap_w``.
        ``threads == 0`` or ``workers == 0`` means all cores.
        """
        if mode not in self.modes:
            raise OrbnodeError(f"board {self.name!r} has no power mode {mode!r}")
        spec = self.modes[mode]
        duty = spec.duty if busy is None else min(max(float(busy), 0.0), 1.0)
        threads = self.cores if spec.threads <= 0 else spec.threads
        workers = self.cores if spec.workers <= 0 else spec.workers
        active = min(threads * workers, self.cores)
        power = self.idle_w + (self.load_w - self.idle_w) * duty * active / self.cores
        if spec.power_cap_w is not None:
            power = min(power, spec.power_cap_w)
        return power


def list_boards() -> list[str]:
    """Names of the board profiles shipped with orbnode."""
    return sorted(p.stem for p in BOARD_DIR.glob("*.toml"))


def _resolve(name_or_path: str) -> Path:
    text = str(name_or_path).strip()
    if not text:
        raise OrbnodeError("empty board name; choose one of " + ", ".join(list_boards()))
    candidate = Path(text)
    if text.endswith(".toml") or os.sep in text or candidate.is_file():
        if not candidate.is_file():
            raise OrbnodeError(f"board profile file not found: {text}")
        return candidate
    path = BOARD_DIR / f"{text}.toml"
    if not path.is_file():
        raise OrbnodeError(f"unknown board {text!r}; choose one of " + ", ".join(list_boards()))
    return path


def _number(data: dict, key: str, where: str, *, minimum: float | None = None) -> float:
    if key not in data:
        raise OrbnodeError(f"{where}: missing key {key!r}")
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise OrbnodeError(f"{where}: {key!r} must be a number, got {value!r}")
    if minimum is not None and value < minimum:
        raise OrbnodeError(f"{where}: {key!r} must be >= {minimum}, got {value}")
    return float(value)


def _parse(data: dict, where: str) -> BoardProfile:
    raw_modes = data.get("modes")
    if not isinstance(raw_modes, dict):
        raise OrbnodeError(f"{where}: missing [modes.FULL], [modes.ECO], [modes.SAFE] tables")
    modes: dict[str, ModeSpec] = {}
    for mode_name, spec in raw_modes.items():
        if not isinstance(spec, dict):
            raise OrbnodeError(f"{where}: modes.{mode_name} must be a table")
        mwhere = f"{where}: modes.{mode_name}"
        threads = spec.get("threads", 0)
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
            raise OrbnodeError(f"{mwhere}: 'threads' must be an integer >= 0, got {threads!r}")
        duty = _number(spec, "duty", mwhere, minimum=0.0)
        if duty > 1.0:
            raise OrbnodeError(f"{mwhere}: 'duty' must be within 0..1, got {duty}")
        cap = spec.get("power_cap_w")
        if cap is not None:
            cap = _number(spec, "power_cap_w", mwhere, minimum=0.0)
        workers = spec.get("workers", 1)
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
            raise OrbnodeError(f"{mwhere}: 'workers' must be an integer >= 0, got {workers!r}")
        modes[mode_name] = ModeSpec(mode_name, threads, duty, cap, workers)
    missing = [m for m in MODES if m not in modes]
    if missing:
        raise OrbnodeError(f"{where}: missing power mode(s) {', '.join(missing)}")
    sensors = data.get("power_sensors", {})
    if not isinstance(sensors, dict) or not all(isinstance(v, str) for v in sensors.values()):
        raise OrbnodeError(f"{where}: [power_sensors] must map names to path strings")
    cores = data.get("cores")
    if isinstance(cores, bool) or not isinstance(cores, int) or cores < 1:
        raise OrbnodeError(f"{where}: 'cores' must be an integer >= 1, got {cores!r}")
    idle_w = _number(data, "idle_w", where, minimum=0.0)
    load_w = _number(data, "load_w", where, minimum=0.0)
    if load_w < idle_w:
        raise OrbnodeError(f"{where}: load_w ({load_w}) is below idle_w ({idle_w})")
    temp_max = _number(data, "temp_max_c", where)
    temp_warn = _number(data, "temp_warn_c", where)
    temp_resume = _number(data, "temp_resume_c", where)
    if not temp_resume < temp_max or not temp_warn <= temp_max:
        raise OrbnodeError(
            f"{where}: need temp_resume_c < temp_max_c and temp_warn_c <= temp_max_c"
        )
    for key in ("name", "description", "default_spacecraft"):
        if not isinstance(data.get(key), str) or not data.get(key):
            raise OrbnodeError(f"{where}: missing text key {key!r}")
    return BoardProfile(
        name=data["name"],
        description=data["description"],
        idle_w=idle_w,
        load_w=load_w,
        cores=cores,
        modes=modes,
        temp_max_c=temp_max,
        temp_resume_c=temp_resume,
        temp_warn_c=temp_warn,
        heat_capacity_j_per_k=_number(data, "heat_capacity_j_per_k", where, minimum=1e-9),
        power_sensors=dict(sensors),
        default_spacecraft=data["default_spacecraft"],
        strap_conductance_w_per_k=_number(
            {"g": data.get("strap_conductance_w_per_k", 0.25)}, "g", where, minimum=1e-9
        ),
        temp_sensor_path=str(data.get("temp_sensor_path", "/sys/class/thermal/thermal_zone0/temp")),
        weight_memory=str(data.get("weight_memory", "LPDDR4")),
        source_path=where,
    )


def load_board(name_or_path: str) -> BoardProfile:
    """Load a board profile by name (``rpi4``, ``rpi5``, ``jetson-orin-nano``,
    ``x86-workstation``) or by path to a ``.toml`` file.

    Raises :class:`OrbnodeError` (one line) for an unknown name, a missing or
    unreadable file, or a profile with missing or nonsensical values.
    """
    if isinstance(name_or_path, BoardProfile):  # tolerate an already loaded profile
        return name_or_path
    path = _resolve(name_or_path)
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise OrbnodeError(f"cannot read board profile {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        first = message_line(exc)
        raise OrbnodeError(f"board profile {path} is not valid TOML: {first}") from None
    return _parse(data, str(path))


def _read_text(path: str) -> str:
    try:
        with open(path, "rb") as fh:
            return fh.read().decode("utf-8", "replace").replace("\x00", " ").strip()
    except OSError:
        return ""


def detect_board(root: str = "/") -> str:
    """Guess the board this process runs on.

    ``rpi4``/``rpi5`` from ``/proc/device-tree/model``; ``jetson-orin-nano`` from
    ``/etc/nv_tegra_release`` or a device-tree model naming an Orin Nano (or any
    Jetson); otherwise ``x86-workstation``. ``root`` lets tests point at a fake tree.
    """
    model = _read_text(os.path.join(root, "proc/device-tree/model")).lower()
    if "raspberry pi 5" in model:
        return "rpi5"
    if "raspberry pi 4" in model or "raspberry pi compute module 4" in model:
        return "rpi4"
    compatible = _read_text(os.path.join(root, "proc/device-tree/compatible")).lower()
    if (
        "jetson" in model
        or "orin" in model
        or "tegra" in compatible
        or os.path.exists(os.path.join(root, "etc/nv_tegra_release"))
    ):
        return "jetson-orin-nano"
    return "x86-workstation"


def detect_board_evidence(root: str = "/") -> str:
    """What :func:`detect_board` went by, for a log line: the device-tree model, the
    Jetson release file, or neither."""
    model = _read_text(os.path.join(root, "proc/device-tree/model"))
    if model:
        return f"/proc/device-tree/model: {model}"
    release = os.path.join(root, "etc/nv_tegra_release")
    if os.path.exists(release):
        first = _read_text(release).splitlines()
        return f"/etc/nv_tegra_release: {first[0] if first else 'present'}"
    return "no device-tree model, no Jetson release file: a workstation"


def sensor_paths(profile: BoardProfile) -> dict[str, list[str]]:
    """The files each ``profile.power_sensors`` entry reads on this machine.

    Same interpretation as :func:`node.power.open_power_source` (one parser, in
    :mod:`node.power.hwmon`): ``rapl`` is a glob of energy counters; every other
    entry is a hwmon spec ``[NAME@]FILE[,CURRENT]`` whose channels list their
    power file, or their voltage then current file; ``cmd:`` values are commands,
    returned as is. Missing sensors map to ``[]``; a malformed entry raises
    :class:`OrbnodeError`.
    """
    from node.power.hwmon import find_hwmon, hwmon_specs

    try:
        specs = hwmon_specs(profile.power_sensors)
    except ValueError as exc:
        raise OrbnodeError(f"board {profile.name}: {exc}") from None
    found: dict[str, list[str]] = {}
    for key, spec in profile.power_sensors.items():
        if key in specs:
            found[key] = [str(f) for ch in find_hwmon([specs[key]]) for f in ch.files]
        elif spec.strip().startswith("cmd:"):
            found[key] = [spec]
        else:
            found[key] = sorted(glob.glob(spec))
    return found


__all__ = [
    "BoardProfile",
    "ModeSpec",
    "detect_board",
    "detect_board_evidence",
    "list_boards",
    "load_board",
    "sensor_paths",
]
