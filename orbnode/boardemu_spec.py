"""What an emulated board is: its CPU, its operating system, and what it can install.

Pure descriptions for :mod:`orbnode.boardemu`, read from data files:

* the CPU comes from the board profile's ``[cpu]`` table (``node/boards/*.toml``) and
  its ``cores``: :func:`render_cpuinfo` writes the ``/proc/cpuinfo`` the emulated
  board shows, in the arm64 kernel's layout (``arch/arm64/kernel/cpuinfo.c``);
* the operating system and QEMU's CPU model come from ``orbnode/data/board_roots.toml``;
* :func:`wheel_problems` says which bundled wheels the board's Python and C library
  cannot install, by the wheel tags of PEP 425/600 (``packaging.tags``), so a bundle
  flashed for the wrong machine is refused before anything is mounted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from node.boards import BoardProfile, load_board
from node.errors import OrbnodeError

ROOTS_FILE = Path(__file__).resolve().parent / "data" / "board_roots.toml"
ARCH = "aarch64"  # every emulated board; Debian calls it arm64


@dataclass(frozen=True)
class CpuDescription:
    """The cores of a board as Linux lists them: MIDR_EL1 fields, features, BogoMIPS."""

    core: str  # "Cortex-A72"
    count: int
    implementer: int
    architecture: int
    variant: int
    part: int
    revision: int
    features: str
    bogomips: float


@dataclass(frozen=True)
class RootSpec:
    """An arm64 operating system root that debootstrap builds."""

    name: str  # cache key, e.g. "debian-bookworm"
    os: str
    suite: str
    mirror: str
    keyring: str
    python_version: str  # "3.11"
    glibc: str  # "2.36"
    packages: tuple[str, ...]

    @property
    def platform_tag(self) -> str:
        """The newest wheel platform tag this root's C library runs (PEP 600)."""
        major, minor = self.glibc.split(".")
        return f"manylinux_{major}_{minor}_{ARCH}"


@dataclass(frozen=True)
class BoardEmulation:
    """One board as the emulator presents it."""

    board: BoardProfile
    cpu: CpuDescription
    root: RootSpec
    qemu_cpu: str  # QEMU_CPU, e.g. "cortex-a72"

    @property
    def cpu_summary(self) -> str:
        return f"{self.cpu.count}x {self.cpu.core} (part {self.cpu.part:#05x})"


def _load_roots() -> dict:
    with open(ROOTS_FILE, "rb") as fh:
        return tomllib.load(fh)


def emulated_boards() -> list[str]:
    """Names of the boards ``orbnode board-emu`` can emulate."""
    return sorted(_load_roots()["boards"])


_CPU_INTS = ("implementer", "architecture", "variant", "part", "revision")


def cpu_of(board: BoardProfile) -> CpuDescription:
    """The ``[cpu]`` table of the board's profile, ``board.cores`` times."""
    where = board.source_path
    try:
        with open(where, "rb") as fh:
            table = tomllib.load(fh).get("cpu")
    except OSError as exc:
        raise OrbnodeError(f"cannot read board profile {where}: {exc.strerror}") from None
    if not isinstance(table, dict):
        raise OrbnodeError(f"{where}: no [cpu] table (core, implementer, part, ...), so the "
                           f"emulator does not know which CPU board {board.name} has")
    for key in _CPU_INTS:
        value = table.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise OrbnodeError(f"{where}: [cpu] {key!r} must be an integer >= 0, got {value!r}")
    core, features = table.get("core"), table.get("features", "")
    if not isinstance(core, str) or not core or not isinstance(features, str):
        raise OrbnodeError(f"{where}: [cpu] needs 'core' (e.g. \"Cortex-A72\") and "
                           f"'features' as text")
    bogomips = table.get("bogomips", 0.0)
    if isinstance(bogomips, bool) or not isinstance(bogomips, (int, float)) or bogomips < 0:
        raise OrbnodeError(f"{where}: [cpu] 'bogomips' must be a number >= 0")
    return CpuDescription(core=core, count=board.cores, features=" ".join(features.split()),
                          bogomips=float(bogomips), **{k: table[k] for k in _CPU_INTS})


def emulation_for(board_name: str) -> BoardEmulation:
    """The emulation of a shipped arm64 board; one-line error for any other."""
    data = _load_roots()
    boards = data["boards"]
    if board_name not in boards:  # shipped profiles by name: their OS is known
        raise OrbnodeError(f"board {board_name!r} cannot be emulated; choose one of "
                           f"{', '.join(sorted(boards))}")
    board = load_board(board_name)
    raw = dict(data["roots"][boards[board.name]])
    raw["packages"] = tuple(raw["packages"])
    root = RootSpec(name=boards[board.name], **raw)
    cpu = cpu_of(board)
    qemu_cpu = data["qemu_cpu"].get(cpu.core)
    if qemu_cpu is None:
        raise OrbnodeError(f"no QEMU CPU model for {cpu.core} (board {board.name}); "
                           f"add it to {ROOTS_FILE.name} [qemu_cpu]")
    return BoardEmulation(board=board, cpu=cpu, root=root, qemu_cpu=qemu_cpu)


def render_cpuinfo(cpu: CpuDescription) -> str:
    """``/proc/cpuinfo`` as the arm64 Linux kernel writes it for ``cpu``.

    One block per processor, in the kernel's field order and spelling (``c_show`` in
    ``arch/arm64/kernel/cpuinfo.c``); CPU detection libraries (pytorch/cpuinfo, used by
    onnxruntime) read the MIDR fields from here to pick their kernels.
    """
    blocks = []
    for n in range(cpu.count):
        blocks.append(
            f"processor\t: {n}\n"
            f"BogoMIPS\t: {cpu.bogomips:.2f}\n"
            f"Features\t: {cpu.features}\n"
            f"CPU implementer\t: {cpu.implementer:#04x}\n"
            f"CPU architecture: {cpu.architecture}\n"
            f"CPU variant\t: {cpu.variant:#x}\n"
            f"CPU part\t: {cpu.part:#05x}\n"
            f"CPU revision\t: {cpu.revision}\n\n")
    return "".join(blocks)


def parse_cpuinfo(text: str) -> list[dict[str, str]]:
    """The processor blocks of an arm64 ``/proc/cpuinfo`` (the inverse of the above)."""
    blocks: list[dict[str, str]] = []
    for chunk in re.split(r"\n\s*\n", text.strip()):
        fields = {}
        for line in chunk.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields[key.strip()] = value.strip()
        if "processor" in fields:
            blocks.append(fields)
    return blocks


# ----------------------------------------------------------------------------- wheels
def _tags_for(root: RootSpec):
    from packaging.tags import compatible_tags, cpython_tags

    from orbnode.flash_wheels import expand_platforms

    version = tuple(int(p) for p in root.python_version.split("."))
    platforms = [*expand_platforms((root.platform_tag,)), f"linux_{ARCH}"]
    abi = "cp" + "".join(str(p) for p in version)
    return {*cpython_tags(version, [abi], platforms),
            *compatible_tags(version, abi, platforms)}


@dataclass(frozen=True)
class WheelMismatch:
    """A bundled wheel the emulated board's pip would not install."""

    wheel: str
    machines: tuple[str, ...]  # machines its platform tags name, e.g. ("x86_64",)
    pythons: tuple[str, ...]  # its interpreter tags, e.g. ("cp312",)

    def describe(self) -> str:
        return f"{self.wheel} ({', '.join(self.machines) or 'any machine'}, " \
               f"{'/'.join(self.pythons)})"


_MACHINE = re.compile(r"^(?:(?:many|musl)linux_\d+_\d+|manylinux\d+|linux|win|"
                      r"macosx_\d+_\d+)_(\w+)$")


def _machine(platform_tag: str) -> str | None:
    m = _MACHINE.match(platform_tag)
    return m.group(1) if m else None


def wheel_problems(wheel_names: Iterable[str], root: RootSpec) -> list[WheelMismatch]:
    """The wheels (file names) that pip on ``root`` would not install."""
    from packaging.utils import InvalidWheelFilename, parse_wheel_filename

    supported = _tags_for(root)
    problems = []
    for name in sorted(wheel_names):
        try:
            tags = parse_wheel_filename(name)[3]
        except InvalidWheelFilename:
            problems.append(WheelMismatch(name, ("not a wheel name",), ()))
            continue
        if not tags & supported:
            machines = sorted({m for t in tags if (m := _machine(t.platform))})
            problems.append(WheelMismatch(name, tuple(machines),
                                          tuple(sorted({t.interpreter for t in tags}))))
    return problems
