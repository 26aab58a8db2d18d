"""The whole bench behind ``orbnode bench``: every model on every execution provider.

For each (provider, model): throughput, latency and energy per power mode
(:mod:`bench.throughput`), the node's runtime against bare onnxruntime
(:mod:`bench.runtime`), and the orbit figure (:mod:`bench.orbit`), gathered in one
report (:func:`bench.report.new_report`) with the settings they were measured under.
Every model is loaded and checked on every provider before anything is measured,
so bad input fails in one line before minutes of measuring.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from node.errors import OrbnodeError

# Short names for --provider; any full onnxruntime provider name works too.
PROVIDER_ALIASES = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider",
                    "tensorrt": "TensorrtExecutionProvider", "trt": "TensorrtExecutionProvider",
                    "rocm": "ROCMExecutionProvider", "openvino": "OpenVINOExecutionProvider"}
DEFAULT_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")


@dataclass(frozen=True)
class BenchConfig:
    """What to measure and how (``orbnode bench``'s options)."""

    models: tuple[str, ...] = ()  # none: the generated MobileNet (bench/mobilenet.py)
    input_shape: str | None = None
    input: str | None = None
    level: str = "runtime"
    board: str = "auto"
    power_source: str = "auto"
    modes: tuple[str, ...] = ("FULL", "ECO", "SAFE")
    providers: tuple[str, ...] = ()  # names or aliases, comma lists allowed; none: default
    duration_s: float = 10.0
    repetitions: int = 3
    warmup_s: float = 2.0
    power_sample_s: float = 1.0
    bare: bool = True  # also the node runtime against bare onnxruntime
    altitude_km: float = 550.0
    beta_deg: float = 0.0
    orbits: float = 3.0


def resolve_providers(names: list[str] | tuple[str, ...] | None,
                      available: list[str]) -> list[str]:
    """Full provider names; one-line error for one unknown or not installed here."""
    if not names:
        return [p for p in DEFAULT_PROVIDERS if p in available]
    out: list[str] = []
    for raw in names:
        for name in (n.strip() for n in raw.split(",") if n.strip()):
            full = PROVIDER_ALIASES.get(name.lower(), name)
            if full not in available:
                raise OrbnodeError(f"unknown or unavailable execution provider {name!r}; "
                                   f"this onnxruntime has {', '.join(available)}")
            if full not in out:
                out.append(full)
    return out


def providers_for(provider: str) -> list[str]:
    """The session's provider list: ``provider``, with the CPU behind any other."""
    return [provider] if provider == "CPUExecutionProvider" else [provider, "CPUExecutionProvider"]


def measure(cfg: BenchConfig, scratch: Path,
            progress: Callable[[str], None] | None = None) -> dict:
    """The bench report; a generated default model is written to ``scratch``.

    ``progress`` is told what is being measured (one line at a time).
    """
    import onnxruntime as ort

    from bench import report as rep
    from bench.runtime import runtime_vs_bare
    from bench.throughput import Settings, measure_modes
    from node.boards import detect_board, load_board
    from node.engine import Engine, parse_shape
    from node.inputs import load_inputs
    from node.manifest import sha256_file
    from node.power import open_power_source

    say = progress or (lambda _msg: None)
    if cfg.repetitions < 3:
        raise OrbnodeError(f"--repetitions {cfg.repetitions}: at least 3, for a median "
                           "and a spread")
    board = load_board(detect_board() if cfg.board == "auto" else cfg.board)
    modes = list(cfg.modes)
    bad = [m for m in modes if m not in board.modes]
    if bad or not modes:
        raise OrbnodeError(f"unknown power mode(s) {', '.join(bad) or '(none)'}; "
                           f"board {board.name} has {', '.join(board.modes)}")
    providers = resolve_providers(cfg.providers, ort.get_available_providers())
    power = open_power_source(cfg.power_source, board)
    shape = parse_shape(cfg.input_shape) if cfg.input_shape else None
    models = [Path(m) for m in cfg.models]
    for m in models:  # before anything is generated or measured
        if not m.is_file():
            raise OrbnodeError(f"model file not found: {m}")
    generated = []
    if not models:
        from bench.mobilenet import ensure_model

        models = [ensure_model(scratch)]
        generated = [models[0].name]
    settings = Settings(cfg.duration_s, cfg.repetitions, cfg.warmup_s, cfg.power_sample_s)
    # Load every model on every provider first: a bad one fails before any measuring.
    loaded = []
    for provider in providers:
        for m in models:
            engine = Engine(m, threads=1, input_shape=shape, level=cfg.level,
                            providers=providers_for(provider),
                            verify_liveness=provider == "CPUExecutionProvider")
            xs, ys = load_inputs(engine, cfg.input)
            engine.check_inference(xs[: engine.input_shape[0]])
            loaded.append((provider, engine, xs, ys))
    result = rep.new_report({
        "board": board.name, "level": cfg.level, "modes": modes, "providers": providers,
        "models": [m.name for m in models], "generated_models": generated,
        "model_sha256": {m.name: sha256_file(m) for m in models},
        "duration_s": settings.duration_s,
        "repetitions": settings.repetitions, "warmup_s": settings.warmup_s,
        "power_sample_s": settings.power_sample_s, "power_source": power.describe(),
        "power_measured": power.measured,
        "mode_settings": {m: {"threads": board.modes[m].threads,
                              "workers": board.modes[m].workers, "duty": board.modes[m].duty}
                          for m in modes},
        "orbit": {"altitude_km": cfg.altitude_km, "beta_deg": cfg.beta_deg,
                  "orbits": cfg.orbits},
    })
    if not power.measured:
        result["notes"].append(f"Power is MODELLED ({power.describe()}): board profile idle/"
                               "load power scaled by this process's CPU use, not a measurement.")
    for provider, engine, x, y in loaded:
        points = measure_modes(engine, x, y, board, power, modes, settings, provider=provider,
                               progress=say)
        result["points"] += [p.to_dict() for p in points]
        if cfg.bare:
            say(f"{engine.model_path.name} {provider}: node runtime against bare onnxruntime")
            r = runtime_vs_bare(engine, x, y, provider=provider,
                                repetitions=settings.repetitions,
                                duration_s=settings.duration_s, warmup_s=settings.warmup_s)
            result["runtime_vs_bare"].append({"model": engine.model_path.name, **r.to_dict()})
        _orbit(result, board, points, cfg, engine.model_path.name, provider)
    return result


def run(cfg: BenchConfig, out: Path,
        progress: Callable[[str], None] | None = None) -> tuple[dict, list[Path]]:
    """Measure (:func:`measure`) and write the artifacts into ``out``
    (:func:`bench.report.write`); returns the report and the files written.

    A generated default model lives in scratch space while it is measured and is kept
    in ``out/models`` only once the bench has run: bad input writes nothing.
    """
    import shutil
    import tempfile

    from bench import report as rep

    with tempfile.TemporaryDirectory(prefix="orbnode-bench-") as scratch:
        result = measure(cfg, Path(scratch), progress=progress)
        written = rep.write(result, out)
        for name in result["settings"]["generated_models"]:
            (out / "models").mkdir(exist_ok=True)
            shutil.copy2(Path(scratch) / name, out / "models" / name)
            written.append(out / "models" / name)
    return result, written


def _orbit(result: dict, board, points, cfg: BenchConfig, model: str, provider: str) -> None:
    """Add the orbit figure of one (model, provider), or a note saying why there is none."""
    from node.scheduler import MODES

    rates = {p.mode: p.values("inferences_per_s") for p in points}
    if not all(m in rates for m in MODES):
        result["notes"].append(f"Orbit figure for {model} needs FULL, ECO and SAFE measured.")
        return
    try:
        from bench.orbit import OrbitSettings, orbit_figure

        fig = orbit_figure(board, rates, OrbitSettings(cfg.altitude_km, cfg.beta_deg,
                                                       cfg.orbits))
    except ModuleNotFoundError as exc:  # a board's base install: no orbit propagation
        result["notes"].append(f"No orbit figure: needs orbnode[host] (no module "
                               f"{exc.name!r}); `orbnode bench --from bench.json` cannot add "
                               "it later, run the bench on the host or install the extra.")
        return
    result["orbit"].append({"model": model, "provider": provider, **fig.to_dict()})
