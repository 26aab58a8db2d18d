"""The campaign database (SQLite): the plan up front, results as they come.

Why SQLite: one file a user can copy and query, transactions that survive a kill,
and ``INSERT OR IGNORE`` to make writing a result idempotent. Layout:

``campaign``  one row: format version, the plan-defining ``config`` (JSON), the model's
              sha256, the population (JSON: strata, fingerprint, liveness notes), the
              inputs the trials ran on (an ``.npy`` blob), library versions.
``strata``    id, name, population (fault sites), planned faults.
``faults``    the plan: id, tensor, idx (flat C-order element index), bit (0 = LSB),
              kind, span, word (hex, ``random`` faults only), input_id, stratum, field.
``results``   (fault_id, mitigation) (primary key: a fault has at most one result per
              mitigation), outcome, max_abs_diff (max |faulty − golden| of the first
              output, NULL when no element is finite or the run failed), top1_changed,
              output_digest (blake2b-64 of the faulty outputs' bytes; NULL when masked,
              i.e. equal to the golden outputs), detail (what the mitigation did), session.
``mitigations`` one row per mitigation compared: measured seconds per inference, ratio
              to ``none``, memory overhead in bytes, what was timed.
``sessions``  one row per run or resume of the campaign: executor, workers, rates.

A fault's results under every mitigation are written in the same transaction, so a
fault is done exactly when it has a result under the campaign's first mitigation.

The plan and the campaign row are written in one transaction, so a database either
holds a whole plan or none. Results are committed in small batches (one chunk of
faults each) in WAL mode: a kill loses at most the batches in flight, and a resume
runs exactly the faults that have no result.
"""

from __future__ import annotations

import io
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np

from node.errors import OrbnodeError
from radiation.campaign.plan import PlannedFault, Stratum
from radiation.campaign.runner import FaultResult
from radiation.mitigations.protect import Cost

FORMAT = 2

_SCHEMA = """
CREATE TABLE campaign (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    format INTEGER NOT NULL,
    created TEXT NOT NULL,
    model_sha256 TEXT NOT NULL,
    config TEXT NOT NULL,
    population TEXT NOT NULL,
    inputs BLOB NOT NULL,
    versions TEXT NOT NULL
);
CREATE TABLE strata (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    population INTEGER NOT NULL,
    planned INTEGER NOT NULL
);
CREATE TABLE faults (
    id INTEGER PRIMARY KEY,
    tensor TEXT NOT NULL,
    idx INTEGER NOT NULL,
    bit INTEGER NOT NULL,
    kind TEXT NOT NULL,
    span INTEGER NOT NULL,
    word TEXT,
    input_id INTEGER NOT NULL,
    stratum INTEGER NOT NULL REFERENCES strata(id),
    field TEXT NOT NULL
);
CREATE TABLE results (
    fault_id INTEGER NOT NULL REFERENCES faults(id),
    mitigation TEXT NOT NULL,
    outcome TEXT NOT NULL,
    max_abs_diff REAL,
    top1_changed INTEGER,
    output_digest TEXT,
    detail TEXT NOT NULL DEFAULT '',
    session INTEGER,
    PRIMARY KEY (fault_id, mitigation)
);
CREATE TABLE mitigations (
    name TEXT PRIMARY KEY,
    seconds_per_inference REAL,
    time_ratio REAL,
    overhead_bytes INTEGER,
    note TEXT
);
CREATE TABLE sessions (
    id INTEGER PRIMARY KEY,
    started TEXT NOT NULL,
    finished TEXT,
    executor TEXT NOT NULL,
    workers INTEGER NOT NULL,
    reuse INTEGER NOT NULL,
    faults_run INTEGER NOT NULL DEFAULT 0,
    wall_s REAL,
    stats TEXT
);
"""



class StratumRow(NamedTuple):
    """A row of the ``strata`` table."""

    id: int
    name: str
    population: int
    planned: int


class StoredResult(NamedTuple):
    """One fault's stored result under one mitigation (columns of ``results``)."""

    outcome: str
    max_abs_diff: float | None
    top1_changed: bool | None
    output_digest: str | None
    detail: str


class SessionRow(NamedTuple):
    """A row of the ``sessions`` table; ``stats``: the rates and counts it recorded."""

    id: int
    started: str
    finished: str | None
    executor: str
    workers: int
    reuse: bool
    faults_run: int
    wall_s: float | None
    stats: dict

    def as_dict(self) -> dict:
        """The columns and the stats as one flat dict (the summary's ``session``)."""
        return {**{k: v for k, v in self._asdict().items() if k != "stats"}, **self.stats}


def _columns(record: type) -> str:
    """The SELECT list of a record whose fields are named after the table's columns."""
    return ", ".join(record._fields)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _connect(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(str(path), isolation_level=None, timeout=30.0)
    return con


def probe(path: str | Path) -> str:
    """What is at ``path``: ``"missing"``, ``"empty"`` (no campaign yet) or ``"campaign"``.

    Raises a one-line error for a file that is not an orbnode campaign database, so
    that starting a campaign never overwrites somebody else's data. Opens read-only.
    """
    p = Path(path)
    if not p.exists():
        return "missing"
    if not p.is_file():
        raise OrbnodeError(f"--db {p} is not a file")
    if p.stat().st_size == 0:
        return "empty"
    try:
        con = sqlite3.connect(f"file:{p}?mode=ro", uri=True, timeout=30.0)
        try:
            names = {r[0] for r in con.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not names:
                return "empty"
            if "campaign" not in names:
                raise OrbnodeError(f"{p} is an SQLite database but not an orbnode campaign "
                                   "(no campaign table); choose another --db")
            row = con.execute("SELECT format FROM campaign").fetchone()
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise OrbnodeError(f"{p} is not a campaign database ({exc})") from None
    if row is None:
        return "empty"
    if row[0] != FORMAT:
        raise OrbnodeError(f"{p} has campaign format {row[0]}; this orbnode reads {FORMAT}")
    return "campaign"


class CampaignStore:
    """An open campaign database. Create with :meth:`create`, reopen with :meth:`open`."""

    def __init__(self, path: Path, con: sqlite3.Connection) -> None:
        self.path = path
        self.con = con
        row = con.execute("SELECT model_sha256, config, population, versions, created "
                          "FROM campaign").fetchone()
        self.model_sha256 = row[0]
        self.config: dict = json.loads(row[1])
        self.population: dict = json.loads(row[2])
        self.versions: dict = json.loads(row[3])
        self.created: str = row[4]
        self.mitigations: list[str] = list(self.config.get("mitigations") or ["none"])

    # ------------------------------------------------------------------ opening
    @classmethod
    def create(cls, path: str | Path, *, model_sha256: str, config: dict, population: dict,
               strata: list[Stratum], alloc: list[int], faults: list[PlannedFault],
               fields: dict[tuple[str, int], str], inputs: np.ndarray,
               versions: dict) -> CampaignStore:
        """Write a new campaign (schema, plan, inputs) in one transaction."""
        p = Path(path)
        state = probe(p)
        if state == "campaign":
            raise OrbnodeError(f"{p} already holds a campaign; continue it with --resume "
                               "or choose another --db")
        con = _connect(p)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            con.execute("BEGIN IMMEDIATE")
            for table in ("results", "mitigations", "faults", "strata", "sessions", "campaign"):
                con.execute(f"DROP TABLE IF EXISTS {table}")  # an empty shell of a killed start
            for statement in _SCHEMA.split(";"):  # not executescript: it would COMMIT
                if statement.strip():
                    con.execute(statement)
            con.execute("INSERT INTO campaign VALUES (1, ?, ?, ?, ?, ?, ?, ?)",
                        (FORMAT, _now(), model_sha256, json.dumps(config),
                         json.dumps(population), _npy_bytes(inputs), json.dumps(versions)))
            con.executemany("INSERT INTO strata VALUES (?, ?, ?, ?)",
                            [(h, s.name, s.population, n)
                             for h, (s, n) in enumerate(zip(strata, alloc, strict=True))])
            con.executemany(
                "INSERT INTO faults VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                ((f.id, f.tensor, f.index, f.bit, f.kind, f.span,
                  None if f.word is None else hex(f.word), f.input_id, f.stratum,
                  fields[(f.tensor, f.bit)] if f.kind != "random" else "word")
                 for f in faults))
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            con.close()
            raise
        return cls(p, con)

    @classmethod
    def open(cls, path: str | Path) -> CampaignStore:
        """Reopen an existing campaign for writing (check it first: :func:`probe`)."""
        p = Path(path)
        if probe(p) != "campaign":
            raise OrbnodeError(f"no campaign in {p}; start one without --resume")
        con = _connect(p)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
        return cls(p, con)

    @classmethod
    def open_readonly(cls, path: str | Path) -> CampaignStore:
        """Open for reading only (validation before a resume touches anything)."""
        p = Path(path)
        if probe(p) != "campaign":
            raise OrbnodeError(f"no campaign in {p}; start one without --resume")
        return cls(p, sqlite3.connect(f"file:{p}?mode=ro", uri=True, timeout=30.0))

    def close(self) -> None:
        self.con.close()

    # ------------------------------------------------------------------ reading
    def inputs(self) -> np.ndarray:
        """The input samples the trials run on (``input_id`` k is ``inputs[k:k+batch]``)."""
        blob = self.con.execute("SELECT inputs FROM campaign").fetchone()[0]
        return np.load(io.BytesIO(blob), allow_pickle=False)

    def planned(self) -> int:
        return self.con.execute("SELECT COUNT(*) FROM faults").fetchone()[0]

    def done(self) -> int:
        """Faults with a result (under the first mitigation: see the module docstring)."""
        return self.con.execute("SELECT COUNT(*) FROM results WHERE mitigation = ?",
                                (self.mitigations[0],)).fetchone()[0]

    @staticmethod
    def _planned(row: tuple) -> PlannedFault:
        i, t, x, b, k, s, w, inp, h = row
        return PlannedFault(i, t, x, b, k, s, None if w is None else int(w, 16), inp, h)

    _FAULT_COLUMNS = ("f.id, f.tensor, f.idx, f.bit, f.kind, f.span, f.word, f.input_id, "
                      "f.stratum")

    def remaining(self, page: int = 50_000) -> Iterator[PlannedFault]:
        """Faults without a result, in id order; read a page at a time, so a plan of
        millions of faults is never held in memory at once."""
        last = -1
        while True:
            rows = self.con.execute(
                f"SELECT {self._FAULT_COLUMNS} FROM faults f LEFT JOIN results r "
                "ON r.fault_id = f.id AND r.mitigation = ? "
                "WHERE r.fault_id IS NULL AND f.id > ? ORDER BY f.id LIMIT ?",
                (self.mitigations[0], last, page)).fetchall()
            if not rows:
                return
            yield from map(self._planned, rows)
            last = rows[-1][0]

    def fault(self, fault_id: int) -> PlannedFault:
        row = self.con.execute(f"SELECT {self._FAULT_COLUMNS} FROM faults f WHERE f.id = ?",
                               (fault_id,)).fetchone()
        if row is None:
            raise OrbnodeError(f"no fault {fault_id} in {self.path}")
        return self._planned(row)

    def result(self, fault_id: int, mitigation: str | None = None) -> StoredResult | None:
        """The result of fault ``fault_id`` under ``mitigation`` (default: the first)."""
        row = self.con.execute(
            f"SELECT {_columns(StoredResult)} FROM results WHERE fault_id = ? AND mitigation = ?",
            (fault_id, mitigation or self.mitigations[0])).fetchone()
        if row is None:
            return None
        r = StoredResult._make(row)
        return r if r.top1_changed is None else r._replace(top1_changed=bool(r.top1_changed))

    GROUPS = ("tensor", "bit", "field", "stratum", "input_id")

    def group_counts(self, column: str | tuple[str, ...], mitigation: str | None = None) -> dict:
        """``{group: {"planned": n, outcome: count, ...}}`` grouped by faults column(s)
        (a tuple of columns gives tuple keys), for one mitigation (default: the first)."""
        cols = (column,) if isinstance(column, str) else tuple(column)
        if not cols or any(c not in self.GROUPS for c in cols):
            raise ValueError(column)
        sel = ", ".join(f"f.{c}" for c in cols)
        key = (lambda r: r[0]) if len(cols) == 1 else (lambda r: tuple(r[:len(cols)]))
        out: dict = {}
        for r in self.con.execute(f"SELECT {sel}, COUNT(*) FROM faults f GROUP BY {sel}"):
            out[key(r)] = {"planned": r[-1]}
        for r in self.con.execute(
                f"SELECT {sel}, r.outcome, COUNT(*) FROM results r "
                f"JOIN faults f ON f.id = r.fault_id WHERE r.mitigation = ? "
                f"GROUP BY {sel}, r.outcome", (mitigation or self.mitigations[0],)):
            out.setdefault(key(r), {"planned": 0})[r[-2]] = r[-1]
        return out

    def details(self, mitigation: str) -> dict[str, int]:
        """How often the mitigation reported each detail (``repaired``, ``corrected``…)."""
        return dict(self.con.execute(
            "SELECT detail, COUNT(*) FROM results WHERE mitigation = ? AND detail != '' "
            "GROUP BY detail ORDER BY detail", (mitigation,)).fetchall())

    def costs(self) -> dict[str, Cost]:
        """Measured cost per mitigation, by name."""
        return {c.name: c for c in map(Cost._make, self.con.execute(
            f"SELECT {_columns(Cost)} FROM mitigations"))}

    def strata(self) -> list[StratumRow]:
        """Every stratum, by id."""
        return [StratumRow(*r) for r in self.con.execute(
            "SELECT id, name, population, planned FROM strata ORDER BY id")]

    def sessions(self) -> list[SessionRow]:
        """Every run or resume of the campaign, by id."""
        rows = map(SessionRow._make, self.con.execute(
            f"SELECT {_columns(SessionRow)} FROM sessions ORDER BY id"))
        return [r._replace(reuse=bool(r.reuse), stats=json.loads(r.stats) if r.stats else {})
                for r in rows]

    RECORD_COLUMNS = ("fault_id", "mitigation", "tensor", "index", "bit", "kind", "span",
                      "word", "input_id", "stratum", "field", "outcome", "max_abs_diff",
                      "top1_changed", "output_digest", "detail")

    def records(self) -> Iterator[tuple]:
        """Every result joined with its fault, by id then mitigation (exports), in the
        order of :attr:`RECORD_COLUMNS`."""
        yield from self.con.execute(
            "SELECT f.id, r.mitigation, f.tensor, f.idx, f.bit, f.kind, f.span, f.word, "
            "f.input_id, f.stratum, f.field, r.outcome, r.max_abs_diff, r.top1_changed, "
            "r.output_digest, r.detail FROM faults f JOIN results r ON r.fault_id = f.id "
            "ORDER BY f.id, r.mitigation")

    # ------------------------------------------------------------------ writing
    def begin_session(self, executor: str, workers: int, reuse: bool) -> int:
        cur = self.con.execute(
            "INSERT INTO sessions (started, executor, workers, reuse) VALUES (?, ?, ?, ?)",
            (_now(), executor, workers, int(reuse)))
        return int(cur.lastrowid)

    def update_session(self, session: int, *, faults_run: int, wall_s: float, stats: dict,
                       finished: bool = False) -> None:
        self.con.execute("UPDATE sessions SET faults_run = ?, wall_s = ?, stats = ?, "
                         "finished = ? WHERE id = ?",
                         (faults_run, wall_s, json.dumps(stats), _now() if finished else None,
                          session))

    def record(self, results: Iterable[FaultResult], session: int) -> int:
        """Write a batch of results in one transaction; returns how many faults were new
        (counted under the first mitigation).

        Idempotent: a result already there is kept (``INSERT OR IGNORE``).
        """
        first = self.mitigations[0]
        new = 0
        self.con.execute("BEGIN")
        try:
            for r in results:
                cur = self.con.execute(
                    "INSERT OR IGNORE INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (r.fault_id, r.mitigation, r.outcome, r.max_abs_diff, r.top1_changed,
                     r.digest, r.detail, session))
                new += cur.rowcount if r.mitigation == first else 0
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        return new

    def record_costs(self, costs: Iterable[Cost]) -> None:
        """Store the measured cost of each mitigation (replacing earlier measurements)."""
        self.con.execute("BEGIN")
        try:
            self.con.executemany(
                f"INSERT OR REPLACE INTO mitigations ({_columns(Cost)}) VALUES (?, ?, ?, ?, ?)",
                costs)
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
