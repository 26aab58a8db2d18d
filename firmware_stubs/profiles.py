"""Load spacecraft and radiation-environment data files (``firmware_stubs/data/*.toml``).

The only module of the environment models that touches files: everything else is
pure. Every unusable input raises :class:`node.errors.OrbnodeError` with one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

import numpy as np

from firmware_stubs.devicelib import Device
from firmware_stubs.epslib import Battery, BusLoads, SolarArray
from firmware_stubs.radenvlib import RadiationEnvironment, RadiationParams
from firmware_stubs.shieldlib import RangeTable
from firmware_stubs.thermallib import ThermalModel
from firmware_stubs.trappedlib import SOLAR_PHASES
from node.errors import OrbnodeError, message_line

DATA_DIR = Path(__file__).resolve().parent / "data"
RADIATION_FILE = DATA_DIR / "radiation.toml"
DEVICES_FILE = DATA_DIR / "devices.toml"
PSTAR_FILE = DATA_DIR / "pstar_aluminium.csv"
NOT_SPACECRAFT = (RADIATION_FILE, DEVICES_FILE)
DEFAULT_SHIELDING_MM_AL = 2.0
DEFAULT_SPACECRAFT = "cubesat-3u"
RADIATION_ENVIRONMENTS = ("off", "leo", "saa-heavy", "solar-event")


@dataclass(frozen=True)
class Spacecraft:
    """Everything about the spacecraft bus the envelope needs (board excluded)."""

    name: str
    description: str
    board: str  # the board this spacecraft was sized for
    array: SolarArray
    battery: Battery
    bus: BusLoads
    thermal: dict  # ThermalModel keyword arguments without the board's
    shed_release_margin: float = 0.02
    shielding_mm_al: float = DEFAULT_SHIELDING_MM_AL  # equivalent aluminium around the node

    def thermal_model(
        self, board_heat_capacity_j_per_k: float, strap_w_per_k: float
    ) -> ThermalModel:
        return ThermalModel(
            board_heat_capacity_j_per_k=board_heat_capacity_j_per_k,
            strap_conductance_w_per_k=strap_w_per_k,
            **self.thermal,
        )


def _read_toml(path: Path, what: str) -> dict:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise OrbnodeError(f"{what} file not found: {path}") from None
    except OSError as exc:
        raise OrbnodeError(f"cannot read {what} file {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        first = message_line(exc)
        raise OrbnodeError(f"{what} file {path} is not valid TOML: {first}") from None


def list_spacecraft() -> list[str]:
    """Names of the spacecraft data files shipped with orbnode."""
    return sorted(p.stem for p in DATA_DIR.glob("*.toml") if p not in NOT_SPACECRAFT)


def _table(data: dict, key: str, where: str) -> dict:
    value = data.get(key)
    if not isinstance(value, dict):
        raise OrbnodeError(f"{where}: missing [{key}] table")
    return value


def load_spacecraft(name_or_path: str = DEFAULT_SPACECRAFT) -> Spacecraft:
    """Load a spacecraft by name (``cubesat-3u``, ``smallsat-jetson``, ``smallsat-x86``)
    or from a ``.toml`` path."""
    text = str(name_or_path).strip()
    path = Path(text)
    if not (text.endswith(".toml") or "/" in text):
        path = DATA_DIR / f"{text}.toml"
        if not path.is_file() or path in NOT_SPACECRAFT:
            raise OrbnodeError(
                f"unknown spacecraft {text!r}; choose one of " + ", ".join(list_spacecraft())
            )
    data = _read_toml(path, "spacecraft")
    where = str(path)
    try:
        arr = dict(_table(data, "array", where))
        faces = arr.pop("body_faces_m2", {})
        array = SolarArray(
            area_m2=float(arr.pop("area_m2", 0.0)),
            body_faces_m2={k: float(v) for k, v in faces.items()},
            **arr,
        )
        battery = Battery(**_table(data, "battery", where))
        bus_raw = dict(_table(data, "bus", where))
        heater = float(bus_raw.pop("eclipse_heater_w", 0.0))
        bus = BusLoads({k: float(v) for k, v in bus_raw.items()}, heater)
        thermal = dict(_table(data, "thermal", where))
        ThermalModel(**thermal)  # validate now, not at first use
        eps = data.get("eps", {})
        margin = float(eps.get("shed_release_margin", 0.02))
        if not 0 <= margin < 1:
            raise ValueError(f"shed_release_margin must be within 0..1, got {margin}")
        shielding = float(data.get("radiation", {}).get("shielding_mm_al",
                                                         DEFAULT_SHIELDING_MM_AL))
        if not shielding >= 0:
            raise ValueError(f"shielding_mm_al must be >= 0, got {shielding}")
        return Spacecraft(
            name=str(data.get("name", path.stem)),
            description=str(data.get("description", "")),
            board=str(data.get("board", "rpi4")),
            array=array,
            battery=battery,
            bus=bus,
            thermal=thermal,
            shed_release_margin=margin,
            shielding_mm_al=shielding,
        )
    except (TypeError, ValueError) as exc:
        msg = message_line(exc)
        raise OrbnodeError(f"{where}: {msg}") from None


def list_devices() -> list[str]:
    """Memory technologies with upset data (``data/devices.toml``)."""
    return sorted(_read_toml(DEVICES_FILE, "device"))


def load_device(name: str) -> Device:
    """One memory technology's upset response; unknown names raise :class:`OrbnodeError`."""
    data = _read_toml(DEVICES_FILE, "device")
    if name not in data:
        raise OrbnodeError(f"unknown device {name!r}; choose one of " + ", ".join(sorted(data)))
    fields = {k: v for k, v in data[name].items() if k not in ("source", "status")}
    try:
        return Device(name=name, **fields)
    except (TypeError, ValueError) as exc:
        msg = message_line(exc)
        raise OrbnodeError(f"{DEVICES_FILE}: device {name!r}: {msg}") from None


def load_range_table(path: Path = PSTAR_FILE) -> RangeTable:
    """The PSTAR stopping-power table of aluminium shipped with orbnode."""
    try:
        lines = [ln for ln in Path(path).read_text().splitlines()
                 if ln.strip() and not ln.startswith("#")]
        rows = np.loadtxt(lines[1:], delimiter=",", ndmin=2)
    except OSError as exc:
        raise OrbnodeError(f"cannot read range table {path}: {exc}") from None
    except ValueError as exc:
        raise OrbnodeError(f"range table {path} is not numeric CSV: {exc}") from None
    return RangeTable(rows[:, 0], rows[:, 1])


def load_radiation(
    name: str = "leo",
    *,
    device: str = "SRAM",
    shielding_mm_al: float = DEFAULT_SHIELDING_MM_AL,
    solar: str | None = None,
    path: str | Path = RADIATION_FILE,
) -> RadiationEnvironment:
    """The named environment (``off``, ``leo``, ``saa-heavy``, ``solar-event``) for the
    memory ``device`` behind ``shielding_mm_al`` of aluminium; ``solar`` overrides the
    environment's AP8 phase (``min``/``max``)."""
    data = _read_toml(Path(path), "radiation environment")
    envs = data.get("environments", {})
    if name not in envs:
        raise OrbnodeError(
            f"unknown radiation environment {name!r}; choose one of " + ", ".join(sorted(envs))
        )
    try:
        shield = float(shielding_mm_al)
    except (TypeError, ValueError):
        raise OrbnodeError(f"shielding must be a number of mm, got {shielding_mm_al!r}") from None
    if not (np.isfinite(shield) and shield >= 0):
        raise OrbnodeError(f"shielding must be >= 0 mm of aluminium, got {shielding_mm_al!r}")
    if solar is not None and solar not in SOLAR_PHASES:
        raise OrbnodeError(f"solar phase must be one of {', '.join(SOLAR_PHASES)}, got {solar!r}")
    dev = load_device(device)
    try:
        params = RadiationParams(**{k: float(v) for k, v in data.get("model", {}).items()})
        env = dict(envs[name])
        return RadiationEnvironment(
            name=name,
            device=dev,
            range_table=load_range_table(),
            params=params,
            shielding_mm_al=shield,
            solar=solar or str(env.pop("solar", "max")),
            solar_event=bool(env.pop("solar_event", False)),
            enabled=bool(env.pop("enabled", True)),
        )
    except (TypeError, ValueError) as exc:
        msg = message_line(exc)
        raise OrbnodeError(f"{path}: environment {name!r}: {msg}") from None
