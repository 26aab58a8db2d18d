"""The environment envelope of the compute node: orbit, Sun, shadow, power, thermal, radiation.

:class:`Envelope` combines the pure models of :mod:`orbitlib`, :mod:`sunlib`,
:mod:`eclipselib`, :mod:`epslib`, :mod:`thermallib` and :mod:`radenvlib` with the
data files read by :mod:`profiles`, and integrates battery energy and temperatures
in simulated time. ``Envelope.step`` advances one step (the simulator loop);
``Envelope.simulate`` advances many at once with the geometry vectorised in numpy
and only the stateful battery/thermal recurrence stepped in a tight scalar loop.
Both run the same integrator, so they agree to rounding.

Time convention: a step of ``dt_s`` from t to t + dt evaluates the geometry
(illumination, solar power, environment heat, position, upset rate) at the
midpoint t + dt/2 (midpoint rule); energy and temperatures are reported at t + dt.

Battery and load shedding (energy in joules; :mod:`epslib`)::

    P_net = P_solar - P_bus - P_node
    dE    = eta_c P_net dt  (P_net > 0),   P_net / eta_d dt  (P_net < 0)

If the step would take E below the DoD floor, the EPS cuts the node for that step
(``load_shed``) and keeps it cut until SoC >= floor + ``shed_release_margin``, and
the bus drops to its SAFE (survival) loads meanwhile: the floor is honoured by the
whole bus as far as a survival load allows (only that load, with the eclipse heaters,
can draw the battery below the floor; the summary's ``soc_min`` shows by how much).
The battery accepts at most ``Battery.max_charge_w``, tapering to 0 near full;
what it cannot take, and energy above capacity, is shunted at the array;
a bus demand that an empty battery cannot meet is counted as unserved. Every joule
is accounted: sum(solar - shunt) - sum(loads served) - losses = E_end - E_start.

Thermal: the two-node model of :mod:`thermallib`, the node's drawn power heating
the board, bus power and battery losses heating the structure.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime

import numpy as np

from firmware_stubs.constants import R_EARTH_KM, ZERO_C_K
from firmware_stubs.eclipselib import (
    SHADOW_MODELS,
    eclipse_fraction,
)
from firmware_stubs.envelope_geometry import Geometry
from firmware_stubs.envelope_kernel import Kernel, KernelState, integrate
from firmware_stubs.envelope_state import EnvelopeState, state_at
from firmware_stubs.envelope_summary import RunSummary, summarize
from firmware_stubs.orbitlib import (
    CircularOrbit,
    TLEOrbit,
    as_utc,
    check_altitude_km,
    check_angle_deg,
)
from firmware_stubs.profiles import (
    DEFAULT_SPACECRAFT,
    RADIATION_ENVIRONMENTS,
    Spacecraft,
    load_radiation,
    load_spacecraft,
)
from firmware_stubs.radenvlib import RadiationEnvironment, RateMap
from node.boards import BoardProfile, load_board
from node.errors import OrbnodeError
from node.scheduler import MODES, Scheduler

MODE_CODES = {name: i for i, name in enumerate(MODES)}
DEFAULT_BOARD = "rpi4"
MAX_STEPS = 5_000_000
THERMAL_STARTS = ("periodic", "steady")
SPIN_UP_STEPS = 360  # per orbit, 16 s at 550 km: well inside the board's 10-min time constant
MAX_SPIN_UP_ORBITS = 60
RESTART_THERMAL_ORBITS = 0.02  # restart_thermal only this early in the run
__all__ = ["Envelope", "EnvelopeState", "RunSummary", "simulate", "summarize", "MODE_CODES",
           "MAX_STEPS"]


class Envelope:
    """Orbit, power and thermal envelope of one compute node, advanced in simulated time."""

    def __init__(
        self,
        *,
        orbit: CircularOrbit | TLEOrbit,
        spacecraft: Spacecraft,
        board: BoardProfile,
        radiation: RadiationEnvironment,
        shadow: str = "conical",
        fixed_beta_deg: float | None = None,
        initial_soc: float = 1.0,
        mode: str = "FULL",
        thermal_start: str = "periodic",
        expected_node_power_w: float | None = None,
    ) -> None:
        if shadow not in SHADOW_MODELS:
            raise OrbnodeError(f"unknown shadow model {shadow!r}; choose conical or cylindrical")
        if mode not in MODES:
            raise OrbnodeError(f"unknown power mode {mode!r}; choose FULL, ECO or SAFE")
        self.orbit = orbit
        self.spacecraft = spacecraft
        self.board = board
        self.fixed_beta_deg = fixed_beta_deg
        self.epoch = orbit.epoch
        self.period_s = float(orbit.period_s)
        bat = spacecraft.battery
        self.battery = bat
        self.thermal = spacecraft.thermal_model(
            board.heat_capacity_j_per_k, board.strap_conductance_w_per_k
        )
        self.geometry = Geometry(orbit, spacecraft.array, self.thermal, radiation, shadow,
                                 fixed_beta_deg)
        self.mode = mode
        self.mean_altitude_km = (
            orbit.altitude_km
            if isinstance(orbit, CircularOrbit)
            else orbit.semi_major_axis_km - R_EARTH_KM
        )
        self.beta_deg = float(self.sample(np.array([0.0]))["beta_deg"][0])
        self.eclipse_fraction = eclipse_fraction(
            max(self.mean_altitude_km, 100.0), max(min(self.beta_deg, 90.0), -90.0)
        )
        self._kernel = self._make_kernel()
        # initial state: battery at initial_soc, temperatures at the orbit's periodic
        # equilibrium for the load the node is expected to draw (or its mean-load steady
        # state with thermal_start="steady")
        if thermal_start not in THERMAL_STARTS:
            raise OrbnodeError(f"unknown thermal start {thermal_start!r}; choose "
                               + " or ".join(THERMAL_STARTS))
        e0 = initial_soc * bat.capacity_j
        shed0 = initial_soc < bat.soc_floor
        latches = Scheduler.for_board(board).latches
        tb0, ts0 = self._initial_temps_c(mode)
        self.thermal_start = {"method": "steady", "spin_up_orbits": 0,
                              "expected_load": f"{mode} modelled, orbit mean"}
        if thermal_start == "periodic":
            tb0, ts0, orbits = self._periodic_temps_c(e0, shed0, latches, mode,
                                                      expected_node_power_w)
            self.thermal_start = {
                "method": "periodic", "spin_up_orbits": orbits,
                "expected_load": ("auto policy, modelled power per mode"
                                  if expected_node_power_w is None
                                  else f"{float(expected_node_power_w):g} W"),
            }
        self._t = 0.0
        self._state = KernelState(e0, tb0 + ZERO_C_K, ts0 + ZERO_C_K, shed0, latches)
        self._last: EnvelopeState | None = None
        self.totals_j = {k: 0.0 for k in ("solar", "shunt", "node", "bus", "unserved", "loss")}

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_config(
        cls,
        *,
        altitude_km: float = 550.0,
        beta_deg: float | None = 0.0,
        inclination_deg: float = 51.6,
        spacecraft: str = "<default>",
        board: BoardProfile | str | None = None,
        radiation: str = "leo",
        shadow: str = "conical",
        tle: tuple[str, str] | None = None,
        epoch: datetime | None = None,
        initial_soc: float = 1.0,
        raan_deg: float = 0.0,
        mode: str = "FULL",
        age_years: float | None = None,
        j2: bool = True,
        device: str | None = None,
        shielding_mm_al: float | None = None,
        solar: str | None = None,
        thermal_start: str = "periodic",
        expected_node_power_w: float | None = None,
    ) -> Envelope:
        """Build an envelope from names and numbers; bad input raises :class:`OrbnodeError`.

        ``beta_deg`` given: circular orbit at ``altitude_km``/``inclination_deg`` with the
        Sun fixed at that beta (the spacecraft starts at orbit noon). ``beta_deg=None``:
        beta follows from the orbit (``inclination_deg``, ``raan_deg``, or ``tle``) and
        the date (``epoch``, default 2025-03-20 12:00 UTC, or the TLE epoch). A ``tle``
        takes precedence over ``altitude_km``, ``inclination_deg``, ``raan_deg`` and
        ``beta_deg``. ``board`` None: the board the spacecraft was sized for.
        ``device`` (memory technology), ``shielding_mm_al`` and ``solar`` (AP8 phase)
        default to the board's weight memory, the spacecraft's shielding and the
        environment's phase. ``thermal_start``: "periodic" (default) starts the board and
        structure at the orbit's periodic equilibrium for ``expected_node_power_w`` in
        ``mode`` (None: the node's auto policy with modelled power), "steady" at the
        steady state of the orbit-mean loads in ``mode``.
        """
        if not isinstance(initial_soc, (int, float)) or not 0.0 <= float(initial_soc) <= 1.0:
            raise OrbnodeError(f"initial state of charge must be within 0..1, got {initial_soc!r}")
        if shadow not in SHADOW_MODELS:
            raise OrbnodeError(f"unknown shadow model {shadow!r}; choose conical or cylindrical")
        if radiation not in RADIATION_ENVIRONMENTS:
            raise OrbnodeError(
                f"unknown radiation environment {radiation!r}; choose one of "
                + ", ".join(RADIATION_ENVIRONMENTS)
            )
        if board is None:
            sc_name = DEFAULT_SPACECRAFT if spacecraft == "<default>" else spacecraft
            prof = load_board(load_spacecraft(sc_name).board)
        elif isinstance(board, BoardProfile):
            prof = board
        else:
            prof = load_board(board)
        sc = load_spacecraft(prof.default_spacecraft if spacecraft == "<default>" else spacecraft)
        if age_years is not None:
            try:
                age = float(age_years)
                sc = replace(sc, battery=replace(sc.battery, age_years=age),
                             array=replace(sc.array, age_years=age))
            except ValueError as exc:
                raise OrbnodeError(f"spacecraft age {age_years!r}: {exc}") from None
        env = load_radiation(
            radiation,
            device=prof.weight_memory if device is None else device,
            shielding_mm_al=sc.shielding_mm_al if shielding_mm_al is None else shielding_mm_al,
            solar=solar,
        )
        if tle is not None:
            if not (isinstance(tle, (tuple, list)) and len(tle) == 2):
                raise OrbnodeError("tle must be a pair of lines")
            orbit: CircularOrbit | TLEOrbit = TLEOrbit(tle[0], tle[1], epoch)
            fixed = None
        else:
            alt = check_altitude_km(altitude_km)
            inc = check_angle_deg(inclination_deg, "inclination", 0.0, 180.0)
            raan = check_angle_deg(raan_deg, "RAAN", -360.0, 360.0)
            fixed = None if beta_deg is None else check_angle_deg(beta_deg, "beta", -90.0, 90.0)
            orbit = CircularOrbit(alt, inc, raan, 0.0, as_utc(epoch), j2=j2 and fixed is None)
        return cls(
            orbit=orbit,
            spacecraft=sc,
            board=prof,
            radiation=env,
            shadow=shadow,
            fixed_beta_deg=fixed,
            initial_soc=float(initial_soc),
            mode=mode,
            thermal_start=thermal_start,
            expected_node_power_w=expected_node_power_w,
        )

    def _make_kernel(self) -> Kernel:
        bat, th, b = self.battery, self.thermal, self.board
        cap = bat.capacity_j
        floor_soc = bat.soc_floor
        return Kernel(
            eta_c=bat.charge_efficiency,
            inv_eta_d=1.0 / bat.discharge_efficiency,
            cap_j=cap,
            floor_j=floor_soc * cap,
            release_j=min(floor_soc + self.spacecraft.shed_release_margin, 1.0) * cap,
            cb=th.board_heat_capacity_j_per_k,
            cs=th.structure_heat_capacity_j_per_k,
            g=th.strap_conductance_w_per_k,
            krad=th.radiation_coeff_w_per_k4,
            n_sub=1,
            bus_by_mode=tuple(self.spacecraft.bus.modes_w[m] for m in MODES),  # type: ignore[arg-type]
            node_by_mode=tuple(b.modelled_power_w(m) for m in MODES),  # type: ignore[arg-type]
            policy=Scheduler.for_board(b).policy_args(),
            max_charge_w=bat.max_charge_w,
            taper_j=(1.0 - bat.taper_start_soc) * cap,
        )

    def _initial_temps_c(self, mode: str) -> tuple[float, float]:
        t = np.linspace(0.0, self.period_s, 181)[:-1]
        geo = self.sample(t)
        node_w = self.board.modelled_power_w(mode)
        bus_w = float(np.mean(self.spacecraft.bus.power_w(mode, geo["illumination"])))
        return self.thermal.steady_state_c(float(np.mean(geo["q_env_w"])), bus_w, node_w)

    def restart_thermal(self, reported_node_power_w: float, mode: str) -> bool:
        """Redo the periodic thermal start for the power the node actually reports.

        Allowed within the first ``RESTART_THERMAL_ORBITS`` of an orbit (returns False
        later, changing nothing). The node's power per mode is the board's model,
        ``P(m) = idle + (P_model(m) - idle) u``, with the utilisation ``u`` that makes
        it match the report in ``mode``: a node whose power comes from a sensor or a
        CPU-load model draws what it draws, not the profile's full-load figure.
        """
        if self._t > RESTART_THERMAL_ORBITS * self.period_s:
            return False
        idle = self.board.idle_w
        modelled = self.board.modelled_power_w(mode)
        p = float(reported_node_power_w)
        if not math.isfinite(p) or p < 0.0:
            return False
        u = (p - idle) / (modelled - idle) if modelled > idle else 1.0
        u = min(max(u, 0.0), 1.0)
        powers = tuple(idle + (self.board.modelled_power_w(m) - idle) * u for m in MODES)
        st = self._state
        tb, ts, orbits = self._periodic_temps_c(st.energy_j, st.shed, st.latches, mode, None,
                                                powers)
        self._state = KernelState(st.energy_j, tb + ZERO_C_K, ts + ZERO_C_K, st.shed,
                                  st.latches)
        if self._last is not None:
            self._last = replace(self._last, temp_c=tb, structure_temp_c=ts)
        self.thermal_start = {
            "method": "periodic", "spin_up_orbits": orbits,
            "expected_load": "auto policy, node power per mode "
                             + "/".join(f"{w:.2f}" for w in powers)
                             + f" W (fitted to the node's report of {p:.2f} W in {mode})",
        }
        return True

    def _periodic_temps_c(
        self, e0: float, shed0: bool, latches: tuple, mode: str, node_w: float | None,
        powers: tuple[float, ...] | None = None,
    ) -> tuple[float, float, int]:
        """Board and structure temperatures at the start of a thermally periodic orbit.

        The first orbit (360 steps) is flown again and again — the node on the auto
        policy with its modelled power per mode, or at ``node_w`` in ``mode`` — with the
        battery reset to its start at each orbit start, the temperatures carried over,
        until the orbit-mean board temperature changes by less than 0.01 K. The start
        guess is the steady state for the first pass's mean loads, so a few structure
        time constants suffice.
        """
        n = SPIN_UP_STEPS
        dt = self.period_s / n
        geo = self.sample((np.arange(n) + 0.5) * dt)
        bus = self.spacecraft.bus
        heater = bus.power_w(mode, geo["illumination"]) - bus.modes_w[mode]
        k = self._make_kernel()
        k.n_sub = self.thermal.substeps(dt)
        if powers is not None:
            k.node_by_mode = powers  # type: ignore[assignment]
        code = -1 if node_w is None else MODE_CODES[mode]
        node = np.full(n, 0.0 if node_w is None else float(node_w))
        tb, ts = (x + ZERO_C_K for x in self._initial_temps_c(mode))
        prev = math.nan
        for orbit in range(1, MAX_SPIN_UP_ORBITS + 1):
            out, end = integrate(k, dt, geo["solar_power_w"], node, heater, geo["illumination"],
                                 geo["q_env_w"], KernelState(e0, tb, ts, shed0, latches), code,
                                 compiled=False)
            if orbit == 1:  # restart from the steady state of what was actually drawn
                tb, ts = (x + ZERO_C_K for x in self.thermal.steady_state_c(
                    float(np.mean(geo["q_env_w"])),
                    float(np.mean(out["bus_power_w"] + out["battery_loss_w"])),
                    float(np.mean(out["node_power_drawn_w"]))))
                continue
            tb, ts = end.board_k, end.structure_k
            mean = float(np.mean(out["temp_k"]))
            if abs(mean - prev) < 0.01:
                break
            prev = mean
        return tb - ZERO_C_K, ts - ZERO_C_K, orbit

    # ------------------------------------------------------------------ geometry
    def sample(self, t_s: np.ndarray) -> dict[str, np.ndarray]:
        """Geometry-driven quantities at times ``t_s`` (:meth:`Geometry.sample`); no state."""
        return self.geometry.sample(t_s)

    def rate_map(self) -> RateMap:
        """The upset-rate map along this orbit (:meth:`Geometry.rate_map`)."""
        return self.geometry.rate_map()

    @property
    def shadow(self) -> str:
        return self.geometry.shadow

    @shadow.setter
    def shadow(self, model: str) -> None:
        if model not in SHADOW_MODELS:
            raise OrbnodeError(f"unknown shadow model {model!r}; choose conical or cylindrical")
        self.geometry.shadow = model

    @property
    def radiation(self) -> RadiationEnvironment:
        return self.geometry.radiation

    @radiation.setter
    def radiation(self, env: RadiationEnvironment) -> None:
        self.geometry.with_radiation(env)

    # ------------------------------------------------------------------ stepping
    def set_solar_event(self, on: bool) -> None:
        """Switch a solar particle event on or off (multiplies the upset rate)."""
        self.radiation = self.radiation.with_solar_event(on)

    def _run(
        self, dt: float, t_mid: np.ndarray, node_w: np.ndarray, mode_code: int
    ) -> dict[str, np.ndarray]:
        geo = self.sample(t_mid)
        k = self._kernel
        e_start = self._state.energy_j
        k.n_sub = self.thermal.substeps(dt)
        mode_for_bus = self.mode if mode_code < 0 else MODES[mode_code]
        heater = (
            self.spacecraft.bus.power_w(mode_for_bus, geo["illumination"])
            - (self.spacecraft.bus.modes_w[mode_for_bus])
        )
        raw, self._state = integrate(
            k, dt, geo["solar_power_w"], node_w, heater, geo["illumination"], geo["q_env_w"],
            self._state, mode_code,
        )
        out: dict[str, np.ndarray] = {"battery_energy_start_j": np.asarray(e_start)}
        n = t_mid.size
        out["t_s"] = t_mid + 0.5 * dt
        out["orbits"] = out["t_s"] / self.period_s
        out.update(geo)
        out["in_eclipse"] = geo["illumination"] < 0.5
        e = np.asarray(raw["battery_energy_j"])
        out["battery_energy_j"] = e
        out["battery_capacity_j"] = np.full(n, k.cap_j)
        out["soc"] = e / k.cap_j
        out["soc_floor"] = np.full(n, self.battery.soc_floor)
        out["load_shed"] = np.asarray(raw["load_shed"], dtype=bool)
        out["temp_c"] = np.asarray(raw["temp_k"]) - ZERO_C_K
        out["structure_temp_c"] = np.asarray(raw["structure_temp_k"]) - ZERO_C_K
        drawn = np.asarray(raw["node_power_drawn_w"])
        out["node_power_drawn_w"] = drawn
        out["node_power_w"] = np.asarray(node_w, dtype=float) if mode_code >= 0 else drawn
        out["bus_power_w"] = np.asarray(raw["bus_power_w"])
        out["shunt_power_w"] = np.asarray(raw["shunt_power_w"])
        out["unserved_power_w"] = np.asarray(raw["unserved_power_w"])
        out["battery_loss_w"] = np.asarray(raw["battery_loss_w"])
        out["mode"] = np.asarray(raw["mode"], dtype=np.int8)
        load = out["node_power_drawn_w"] + out["bus_power_w"]
        out["battery_voltage_v"] = self.battery.voltage_v(out["soc"], load - out["solar_power_w"])
        self._t = float(out["t_s"][-1])
        tot = self.totals_j
        tot["solar"] += float(np.sum(geo["solar_power_w"])) * dt
        tot["shunt"] += float(np.sum(out["shunt_power_w"])) * dt
        tot["node"] += float(np.sum(drawn)) * dt
        tot["bus"] += float(np.sum(out["bus_power_w"])) * dt
        tot["unserved"] += float(np.sum(out["unserved_power_w"])) * dt
        # The loss the integrator heated the structure with, not the residual of the
        # balance: a residual closes by construction and would hide a bookkeeping error.
        tot["loss"] += float(np.sum(out["battery_loss_w"])) * dt
        return out

    @staticmethod
    def _check_dt(dt_s: float) -> float:
        try:
            dt = float(dt_s)
        except (TypeError, ValueError):
            raise OrbnodeError(f"time step must be a number of seconds, got {dt_s!r}") from None
        if not math.isfinite(dt) or dt <= 0.0:
            raise OrbnodeError(f"time step must be > 0 s, got {dt_s!r}")
        return dt

    def _mode_code(self, mode: str | None) -> int:
        if mode is None:
            return MODE_CODES[self.mode]
        if mode == "auto":
            return -1
        if mode not in MODE_CODES:
            raise OrbnodeError(f"unknown power mode {mode!r}; choose FULL, ECO, SAFE or auto")
        self.mode = mode
        return MODE_CODES[mode]

    def step(self, dt_s: float, node_power_w: float, mode: str | None = None) -> EnvelopeState:
        """Advance by ``dt_s`` of simulated time with the node drawing ``node_power_w``.

        ``mode`` (FULL/ECO/SAFE) sets the bus-load mode from now on (default: unchanged).
        """
        dt = self._check_dt(dt_s)
        p = float(node_power_w)
        if not math.isfinite(p) or p < 0.0:
            raise OrbnodeError(f"node power must be >= 0 W, got {node_power_w!r}")
        code = self._mode_code(mode)
        if code < 0:
            raise OrbnodeError("step() needs a fixed power mode; 'auto' is for simulate()")
        out = self._run(dt, np.array([self._t + 0.5 * dt]), np.array([p]), code)
        self._last = state_at(out, 0)
        return self._last

    def state(self) -> EnvelopeState:
        """The latest state (before any step: the initial state at t = 0)."""
        if self._last is not None:
            return self._last
        geo = self.sample(np.array([0.0]))
        st = self._state
        e, tb, ts, shed = st.energy_j, st.board_k, st.structure_k, st.shed
        cap = self._kernel.cap_j
        node_w = self.board.modelled_power_w(self.mode)
        return EnvelopeState(
            t_s=0.0,
            orbits=0.0,
            illumination=float(geo["illumination"][0]),
            in_eclipse=bool(geo["illumination"][0] < 0.5),
            solar_power_w=float(geo["solar_power_w"][0]),
            node_power_w=node_w,
            bus_power_w=float(self.spacecraft.bus.power_w(self.mode, geo["illumination"][0])),
            battery_energy_j=e,
            battery_capacity_j=cap,
            soc=e / cap,
            soc_floor=self.battery.soc_floor,
            load_shed=shed,
            temp_c=tb - ZERO_C_K,
            latitude_deg=float(geo["latitude_deg"][0]),
            longitude_deg=float(geo["longitude_deg"][0]),
            in_saa=bool(geo["in_saa"][0]),
            upset_rate_per_bit_day=float(geo["upset_rate_per_bit_day"][0]),
            structure_temp_c=ts - ZERO_C_K,
            battery_voltage_v=float(self.battery.voltage_v(e / cap)),
            beta_deg=float(geo["beta_deg"][0]),
            mode=self.mode,
            node_power_drawn_w=0.0 if shed else node_w,
        )

    def simulate(
        self,
        hours: float,
        step_s: float,
        node_power_w: float | np.ndarray | None = None,
        mode: str | None = None,
    ) -> dict[str, np.ndarray]:
        """Advance ``hours`` in steps of ``step_s``; same result as that many ``step`` calls.

        ``node_power_w``: constant, or one value per step; ``None`` means the board's
        modelled power in ``mode``. ``mode="auto"`` applies the reference policy
        (SAFE above temp_max until below temp_resume or SoC < floor + 5 %; ECO in
        eclipse, above temp_warn or SoC < floor + 15 %; FULL otherwise) with the
        board's modelled power per mode. Returns one numpy array per quantity
        (the :class:`EnvelopeState` fields, ``mode`` as codes 0=FULL 1=ECO 2=SAFE),
        plus ``unserved_power_w`` (bus demand an empty battery could not meet) and
        ``battery_loss_w`` (charge/discharge conversion heat dissipated in the structure).
        """
        dt = self._check_dt(step_s)
        try:
            h = float(hours)
        except (TypeError, ValueError):
            raise OrbnodeError(f"hours must be a number, got {hours!r}") from None
        if not math.isfinite(h) or h <= 0.0:
            raise OrbnodeError(f"hours must be > 0, got {hours!r}")
        n = int(round(h * 3600.0 / dt))
        if n < 1:
            raise OrbnodeError(f"{h:g} h is shorter than one {dt:g} s step")
        if n > MAX_STEPS:
            raise OrbnodeError(f"{n} steps is too many (max {MAX_STEPS}); use a larger --step-s")
        code = self._mode_code(mode)
        if node_power_w is None:
            node_w = np.full(n, self.board.modelled_power_w(self.mode))
        else:
            try:
                node_w = np.broadcast_to(np.asarray(node_power_w, dtype=float), (n,)).copy()
            except (TypeError, ValueError):
                raise OrbnodeError(
                    f"node power must be one number or one value per step ({n})"
                ) from None
            if not np.all(np.isfinite(node_w)) or np.any(node_w < 0):
                raise OrbnodeError("node power must be finite and >= 0 W")
        t_mid = self._t + (np.arange(n) + 0.5) * dt
        out = self._run(dt, t_mid, node_w, code)
        self._last = state_at(out, n - 1)
        return out


def simulate(
    hours: float,
    step_s: float,
    node_power_w: float | np.ndarray | None = None,
    mode: str = "auto",
    **config: object,
) -> dict[str, np.ndarray]:
    """``Envelope.from_config(**config).simulate(hours, step_s, node_power_w, mode)``."""
    if mode != "auto" and mode not in MODES:
        raise OrbnodeError(f"unknown power mode {mode!r}; choose FULL, ECO, SAFE or auto")
    env = Envelope.from_config(mode="ECO" if mode == "auto" else mode, **config)  # type: ignore[arg-type]
    return env.simulate(hours, step_s, node_power_w, mode)
