"""Start or resume a campaign: check, plan, store, execute, record the session.

Order matters for the promises the command makes: everything that can refuse (bad
arguments, a database that holds another campaign, a resume whose model or
configuration differs) is checked *before* the database is opened for writing, so a
refused command leaves it untouched; the plan is stored whole before the first
trial; results are committed chunk by chunk as they arrive.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from node.errors import OrbnodeError
from node.manifest import sha256_file
from radiation import bits as bitops
from radiation.campaign import plan as planning
from radiation.campaign.executors import executor_class, open_executor
from radiation.campaign.plan import PlannedFault
from radiation.campaign.runner import TARGETS, ChunkResult, WorkSpec, population
from radiation.campaign.store import CampaignStore, probe

ProgressCallback = Callable[[int, int, dict[str, int]], None]


@dataclass
class Options:
    """What ``orbnode campaign`` was asked (None: not given; defaults apply)."""

    db: str
    resume: bool = False
    model: str | None = None
    target: str | None = None
    level: str | None = None
    fault: str | None = None
    span: int | None = None
    faults: int | None = None
    seed: int | None = None
    stratum: str | None = None
    tensors: list[str] | None = None
    bits: list[int] | None = None
    field: str | None = None
    samples: int | None = None
    input: str | None = None
    input_shape: tuple[int, ...] | None = None
    margin: float = 0.01
    confidence: float = 0.99
    workers: int = 1
    threads: int | None = None  # intra-op threads per worker (None: cores // workers)
    executor: str = "local"
    reuse: bool = True
    shortcuts: bool | None = None  # None: per tensor, the faster path (runner.WorkSpec)
    batch: bool = True
    chunk: int = 256
    # Called with (faults done, faults planned, {"sdc": n, "due": n}) as results come
    # in; the command line draws it (orbnode.progress). None (or False): silent.
    progress: ProgressCallback | None = None
    mitigations: list[str] | None = None
    tolerance: str | None = None
    report: str | None = None


def array_sha256(arr: np.ndarray) -> str:
    h = hashlib.sha256(f"{arr.dtype.str}{arr.shape}".encode())
    h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def _validate(o: Options) -> None:
    from radiation.mitigations.protect import parse_mitigations
    from radiation.outcome import Tolerance

    if o.seed is not None and o.seed < 0:
        raise OrbnodeError(f"--seed must be non-negative, got {o.seed}")
    Tolerance.parse(o.tolerance)
    if o.mitigations is not None:
        parse_mitigations(",".join(o.mitigations) or ",")
    if o.stratum is not None:
        planning.parse_stratum(o.stratum)
    if o.report is not None and Path(o.report).exists() and not Path(o.report).is_dir():
        raise OrbnodeError(f"--report {o.report} exists and is not a directory")
    if not Path(o.db).parent.is_dir():
        raise OrbnodeError(f"--db {o.db}: directory {Path(o.db).parent} does not exist")
    if o.faults is not None and o.faults <= 0:
        raise OrbnodeError(f"--faults must be positive, got {o.faults}")
    if o.target is not None and o.target not in TARGETS:
        raise OrbnodeError(f"unknown --target {o.target!r}; choose weights or activations")
    if o.level is not None and o.level not in ("file", "runtime"):
        raise OrbnodeError(f"unknown --level {o.level!r}; choose file or runtime")
    if o.span is not None and o.span < 1:
        raise OrbnodeError(f"--span must be at least 1, got {o.span}")
    if o.samples is not None and o.samples < 1:
        raise OrbnodeError(f"--samples must be at least 1, got {o.samples}")
    if o.workers < 1:
        raise OrbnodeError(f"--workers must be at least 1, got {o.workers}")
    if o.threads is not None and o.threads < 1:
        raise OrbnodeError(f"--threads must be at least 1, got {o.threads}")
    if o.chunk < 1:
        raise OrbnodeError(f"--chunk must be at least 1, got {o.chunk}")
    if not 0 < o.margin < 1:
        raise OrbnodeError(f"--margin must be between 0 and 1, got {o.margin}")
    if not 0 < o.confidence < 1:
        raise OrbnodeError(f"--confidence must be between 0 and 1, got {o.confidence}")
    executor_class(o.executor)  # unknown name, or ray not installed: fail before any work


def _lock(path: Path) -> object:
    """An exclusive lock on the database for this process's lifetime (POSIX only).

    flock, not SQLite's own locks: two campaigns writing one plan would each run
    every remaining fault. Released by the kernel when the process ends, killed or not.
    Close it only after the SQLite connection: closing any descriptor of a file drops
    the process's POSIX (fcntl) locks on it, which SQLite relies on.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return None
    f = open(path, "a+b")  # noqa: SIM115 - held open on purpose
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        raise OrbnodeError(f"{path} is in use by another orbnode campaign") from None
    return f


def _engine(model: str, level: str, shape: tuple[int, ...] | None):  # noqa: ANN202
    from node.engine import Engine

    return Engine(model, threads=1, input_shape=shape, level=level)


def _versions() -> dict:
    import importlib.metadata as md

    import onnxruntime

    try:
        orbnode = md.version("orbnode")
    except md.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        orbnode = "unknown"
    return {"orbnode": orbnode, "onnxruntime": onnxruntime.__version__,
            "numpy": np.__version__, "python": sys.version.split()[0]}


def _inputs(engine, path: str | None, samples: int, seed: int) -> np.ndarray:  # noqa: ANN001
    from node.inputs import load_inputs

    xs, _ = load_inputs(engine, path, np.random.default_rng(seed))
    batch = engine.input_shape[0]
    need = samples - 1 + batch
    if need > len(xs):
        raise OrbnodeError(f"--samples {samples} needs {need} input samples (batch {batch}); "
                           f"the input holds {len(xs)}")
    return np.ascontiguousarray(xs[:need])


def _fields(arrays: dict[str, np.ndarray]) -> dict[tuple[str, int], str]:
    return {(n, b): bitops.bit_field(a.dtype, b) for n, a in arrays.items()
            if a.dtype.name in bitops.SUPPORTED for b in range(bitops.word_bits(a.dtype))}


def start(o: Options) -> tuple[CampaignStore, object, object]:
    """Plan and store a new campaign; returns (store, engine, lock)."""
    from node.models import DEFAULT_MODEL

    state = probe(o.db)
    if state == "campaign":
        raise OrbnodeError(f"{o.db} already holds a campaign; continue it with --resume "
                           "or choose another --db")
    model = str(Path(o.model).resolve() if o.model else DEFAULT_MODEL)
    target, level = o.target or "weights", o.level or "file"
    kind, span, seed, samples = o.fault or "seu", o.span or 1, o.seed or 0, o.samples or 1
    engine = _engine(model, level, o.input_shape)
    inputs = _inputs(engine, o.input, samples, seed)
    arrays = population(engine, target, inputs[:engine.input_shape[0]])
    strata = planning.build_strata(arrays, o.stratum or "none", tensors=o.tensors, bits=o.bits,
                                   field=o.field, kind=kind, span=span)
    pops = [s.population for s in strata]
    alloc = planning.allocate(pops, o.faults, margin=o.margin, confidence=o.confidence)
    if o.faults is not None and sum(alloc) < o.faults:
        print(f"orbnode campaign: note: the population has {sum(pops)} fault sites; planning "
              f"an exhaustive campaign of {sum(alloc)} faults", file=sys.stderr)
    faults = planning.make_plan(strata, alloc, seed=seed, kind=kind, span=span, samples=samples)
    config = {
        "model": model, "model_sha256": sha256_file(model), "target": target, "level": level,
        "fault": kind, "span": span, "faults": o.faults, "seed": seed,
        "stratum": o.stratum or "none", "tensors": o.tensors, "bits": o.bits, "field": o.field,
        "samples": samples, "input": str(Path(o.input).resolve()) if o.input else None,
        "input_sha256": array_sha256(inputs),
        "input_shape": list(engine.input_shape) if o.input_shape else None,
        "margin": o.margin, "confidence": o.confidence,
        "mitigations": o.mitigations or ["none"], "tolerance": _tolerance_text(o.tolerance),
    }
    pop_info = {
        "fingerprint": planning.fingerprint(arrays),
        "tensors": {n: {"dtype": a.dtype.name, "shape": list(a.shape)} for n, a in arrays.items()},
        "sites": sum(pops),
        "not_live": dict(engine.liveness_notes) if target == "weights" else {},
    }
    lock = _lock(Path(o.db))
    try:
        store = CampaignStore.create(
            o.db, model_sha256=config["model_sha256"], config=config, population=pop_info,
            strata=strata, alloc=alloc, faults=faults, fields=_fields(arrays), inputs=inputs,
            versions=_versions())
    except BaseException:
        if lock is not None:
            lock.close()
        raise
    return store, engine, lock


def _tolerance_text(text: str | None) -> str | None:
    from radiation.outcome import Tolerance

    t = Tolerance.parse(text)
    return None if t is None else str(t)


def _mismatch(o: Options, cfg: dict) -> str | None:
    """The first plan-defining option given on resume that differs from the campaign.

    Execution options (workers, executor, reuse, chunk) and reporting options
    (margin, confidence) may change on resume; the model and inputs are checked by
    hash in :func:`resume`.
    """
    given = {"target": o.target, "level": o.level, "fault": o.fault, "span": o.span,
             "faults": o.faults, "seed": o.seed, "stratum": o.stratum, "tensors": o.tensors,
             "bits": o.bits, "field": o.field, "samples": o.samples,
             "input_shape": list(o.input_shape) if o.input_shape else None,
             "mitigations": o.mitigations, "tolerance": _tolerance_text(o.tolerance)}
    for key, value in given.items():
        if value is not None and value != cfg.get(key):
            return f"--{key.replace('_', '-')} {value} (the campaign has {cfg.get(key)})"
    return None


def resume(o: Options) -> tuple[CampaignStore, object, object]:
    """Check a stored campaign against the options and the model, then reopen it."""
    state = probe(o.db)
    if state == "missing":
        raise OrbnodeError(f"no campaign database at {o.db}; start one without --resume")
    if state == "empty":
        raise OrbnodeError(f"{o.db} holds no campaign (its start was interrupted); "
                           "start one without --resume")
    ro = CampaignStore.open_readonly(o.db)
    try:
        cfg, pop_info, stored_inputs = ro.config, ro.population, ro.inputs()
    finally:
        ro.close()
    bad = _mismatch(o, cfg)
    if bad:
        raise OrbnodeError(f"{o.db} was planned differently: {bad}; nothing changed")
    model = str(Path(o.model).resolve()) if o.model else cfg["model"]
    from node.engine import check_model_file

    check_model_file(model)
    if sha256_file(model) != cfg["model_sha256"]:
        raise OrbnodeError(f"{o.db} belongs to another model (sha256 "
                           f"{cfg['model_sha256'][:12]}…, not {Path(model).name}); nothing changed")
    shape = tuple(cfg["input_shape"]) if cfg.get("input_shape") else None
    engine = _engine(model, cfg["level"], shape)
    if o.input is not None:
        xs = _inputs(engine, o.input, cfg["samples"], cfg["seed"])
        if array_sha256(xs) != cfg["input_sha256"]:
            raise OrbnodeError(f"--input {o.input} differs from the campaign's inputs; "
                               "nothing changed")
    arrays = population(engine, cfg["target"], stored_inputs[:engine.input_shape[0]])
    if planning.fingerprint(arrays) != pop_info["fingerprint"]:
        raise OrbnodeError(f"the {cfg['level']}-level graph of {Path(model).name} differs from "
                           "the planned one (another onnxruntime or CPU?); nothing changed")
    lock = _lock(Path(o.db))
    return CampaignStore.open(o.db), engine, lock


def chunked(faults: Iterable[PlannedFault], size: int) -> Iterator[list[PlannedFault]]:
    """Consecutive planned faults sharing an input and a tensor, at most ``size`` per chunk."""
    cur: list[PlannedFault] = []
    key = None
    append = cur.append
    for row in faults:
        k = (row.input_id, row.tensor)
        if cur and (k != key or len(cur) >= size):
            yield cur
            cur = []
            append = cur.append
        key = k
        append(row)
    if cur:
        yield cur


@dataclass
class WorkerTime:
    """One worker's faults and clean inferences, and the seconds each took."""

    faults: int = 0
    trial_s: float = 0.0
    clean_n: int = 0
    clean_s: float = 0.0


def default_threads(workers: int) -> int:
    """Intra-op threads per worker: the machine's idle cores shared out, at least one.

    Idle cores are the cores less the one-minute load average: onnxruntime's thread
    pools spin while they wait, so threads beyond the cores nobody else is using
    make every run slower (measured: 2 threads on a loaded 2-core machine ran a
    campaign 17x slower than 1).
    """
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    try:
        idle = cores - os.getloadavg()[0]
    except OSError:  # pragma: no cover - no load average on this platform
        idle = cores
    return max(1, min(cores, int(idle + 0.5)) // max(workers, 1))


class Rates:
    """Per-worker fault and clean-inference timings, summed into campaign rates."""

    def __init__(self) -> None:
        from radiation.propagate import ShortcutCounts

        self.w: dict[str, WorkerTime] = {}
        self.fallbacks: set[str] = set()
        self.shortcuts = ShortcutCounts()
        self.batch_fallbacks: set[str] = set()
        self.paths: dict[str, dict] = {}

    def add(self, r: ChunkResult, faults: int) -> None:
        acc = self.w.setdefault(r.worker, WorkerTime())
        self.fallbacks.update(r.reuse_fallbacks)
        self.shortcuts.add(r.shortcuts)
        self.batch_fallbacks.update(r.batch_fallbacks)
        self.paths.update(r.paths)  # the latest figures (of whichever worker sent them)
        acc.faults += faults
        acc.trial_s += r.trial_s
        acc.clean_n += r.clean_n
        acc.clean_s += r.clean_s

    def stats(self, faults_run: int, wall_s: float) -> dict:
        fr = sum(a.faults / a.trial_s for a in self.w.values() if a.trial_s > 0)
        cr = sum(a.clean_n / a.clean_s for a in self.w.values() if a.clean_s > 0)
        return {
            "faults_per_s": faults_run / wall_s if wall_s > 0 and faults_run else None,
            "worker_faults_per_s": fr or None,
            "clean_inferences_per_s": cr or None,
            "fault_rate_over_clean_rate": fr / cr if fr and cr else None,
            "workers_seen": len(self.w),
            "reuse_fallbacks": sorted(self.fallbacks),
            "shortcuts": self.shortcuts.to_dict(),
            "batch_fallbacks": sorted(self.batch_fallbacks),
            "paths": dict(sorted(self.paths.items())),
        }


def _stats(rates: Rates, ran: int, wall_s: float, threads: int, o: Options,
           host: dict) -> dict:
    mode = {None: "auto", True: "on", False: "off"}[o.shortcuts]
    return {**rates.stats(ran, wall_s), "threads": threads, "machine": host,
            "shortcuts_on": o.shortcuts is not False, "shortcuts_mode": mode,
            "batch_on": o.batch}


def execute(store: CampaignStore, engine, o: Options, cfg: dict) -> dict:  # noqa: ANN001
    """Run every fault without a result; returns this session's record."""
    from radiation.campaign.summary import headline
    from radiation.outcome import Tolerance

    reuse = o.reuse
    from node.machine import machine

    threads = o.threads or default_threads(o.workers)
    host = machine()  # per session: a resume may run on another machine
    session = store.begin_session(o.executor, o.workers, reuse)
    spec = WorkSpec(model=cfg["model"], level=cfg["level"],
                    input_shape=tuple(engine.input_shape), target=cfg["target"], reuse=reuse,
                    inputs=store.inputs(), live=dict(engine.live),
                    fingerprint=store.population["fingerprint"],
                    mitigations=tuple(store.mitigations),
                    tolerance=Tolerance.parse(cfg.get("tolerance")),
                    threads=threads, shortcuts=o.shortcuts, batch=o.batch)
    planned, done = store.planned(), store.done()
    remaining = planned - done
    head = headline(list(spec.mitigations))  # what the progress bar counts
    rates, counts = Rates(), Counter()
    ran = 0
    report = o.progress if callable(o.progress) and remaining else None
    if report is not None:
        report(done, planned, {})
    t0 = last = time.perf_counter()
    try:
        if remaining:
            with open_executor(o.executor, spec, o.workers, engine=engine) as ex:
                for res in ex.map(chunked(store.remaining(), o.chunk), remaining=remaining):
                    new = store.record(res.results, session)
                    ran += new
                    rates.add(res, sum(r.mitigation == spec.mitigations[0]
                                       for r in res.results))
                    counts.update(r.outcome for r in res.results if r.mitigation == head)
                    now = time.perf_counter()
                    if report is not None:
                        report(done + ran, planned, {k: counts[k] for k in ("sdc", "due")})
                    if now - last > 0.2:
                        last = now
                        store.update_session(session, faults_run=ran, wall_s=now - t0,
                                             stats=_stats(rates, ran, now - t0, threads, o, host))
    except BaseException as exc:  # interrupted, or a worker failed: the session stays open
        wall = time.perf_counter() - t0
        store.update_session(session, faults_run=ran, wall_s=wall,
                             stats=_stats(rates, ran, wall, threads, o, host))
        if isinstance(exc, KeyboardInterrupt):
            print(f"orbnode campaign: {ran} results of this session saved in {o.db}; "
                  "continue with --resume", file=sys.stderr)
        raise
    wall = time.perf_counter() - t0
    stats = _stats(rates, ran, wall, threads, o, host)
    store.update_session(session, faults_run=ran, wall_s=wall, stats=stats, finished=True)
    return {"id": session, "executor": o.executor, "workers": o.workers, "threads": o.threads,
            "reuse": reuse,
            "faults_run": ran, "wall_s": wall, "resumed": o.resume, **stats}


def measure_costs(store: CampaignStore, engine) -> None:  # noqa: ANN001
    """Time each mitigation beside a plain inference on the first input; store it."""
    from radiation.mitigations.protect import Kit

    inputs = store.inputs()
    kit = Kit(engine, store.mitigations, inputs)
    store.record_costs(kit.costs(np.ascontiguousarray(inputs[:engine.input_shape[0]])))


def run(o: Options) -> dict:
    """``orbnode campaign``: start (or resume) and run; returns the summary dict."""
    from radiation.campaign.summary import summarize

    _validate(o)
    store, engine, lock = resume(o) if o.resume else start(o)
    try:
        if store.mitigations != ["none"] and not store.costs():
            measure_costs(store, engine)
        session = execute(store, engine, o, store.config)
        summary = summarize(store, confidence=o.confidence, margin=o.margin, session=session)
        if o.report is not None:
            from radiation.campaign.report import write_report

            write_report(store, o.report, summary=summary)
        return summary
    finally:
        store.close()
        if lock is not None:  # after SQLite's own fds: see _lock
            lock.close()


__all__ = ["Options", "chunked", "execute", "resume", "run", "start"]

