"""Orbits: circular Kepler orbits with J2 nodal precession, and real orbits from a TLE.

All positions are Earth-centred inertial (ECI) in km. For TLEs the frame is TEME of
date (what SGP4 produces); circular orbits are defined in the same "of date" frame,
which is also the frame of :mod:`firmware_stubs.sunlib` (mean equinox of date), so
the Sun, the orbit and the shadow are consistent to well under 0.1 degree.

Equations
---------
Circular orbit, radius a = R_E + h, mean motion n = sqrt(mu / a^3), period
T = 2 pi sqrt(a^3 / mu) (Kepler's third law; Vallado 4th ed. eq. 2-25).
Position with argument of latitude u = u0 + n t, right ascension of the ascending
node Omega and inclination i (Vallado eq. 2-102, perifocal -> ECI with e = 0)::

    r = a [cos u cos Omega - sin u cos i sin Omega,
           cos u sin Omega + sin u cos i cos Omega,
           sin u sin i]

Secular J2 drift of the node for a circular orbit (Vallado eq. 9-41)::

    dOmega/dt = -3/2 n J2 (R_E / a)^2 cos i

A sun-synchronous orbit sets dOmega/dt = 360 deg per tropical year, which fixes
cos i (Vallado eq. 11-14). The in-plane J2 terms (a 0.1 % change of the nodal
period) are ignored so that ``period_s`` stays the Keplerian period.
Its node is placed by the local solar time at which it is crossed (LTAN), from the
Sun's right ascension alpha_sun: Omega = alpha_sun + 15 deg/h (LTAN - 12 h)
(:func:`raan_deg_from_ltan_h`).

Greenwich mean sidereal time: IAU-82 (Vallado eq. 3-47), the same expression as
``sgp4.propagation.gstime``; UT1 is taken equal to UTC (< 0.9 s error).

TLEs are propagated with the ``sgp4`` library (Vallado et al. 2006, AIAA 2006-6753).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
from sgp4.api import Satrec, jday
from sgp4.conveniences import sat_epoch_datetime

from firmware_stubs.constants import (
    J2_EARTH,
    MAX_ALTITUDE_KM,
    MIN_ALTITUDE_KM,
    MU_EARTH_KM3_S2,
    R_EARTH_KM,
    SECONDS_PER_DAY,
    TROPICAL_YEAR_DAYS,
)
from node.errors import OrbnodeError

DEFAULT_EPOCH = datetime(2025, 3, 20, 12, 0, 0, tzinfo=timezone.utc)


# ---------------------------------------------------------------------------- input checks
def check_altitude_km(altitude_km: float) -> float:
    """Return ``altitude_km`` as float or raise :class:`OrbnodeError` (one line)."""
    try:
        alt = float(altitude_km)
    except (TypeError, ValueError):
        raise OrbnodeError(f"altitude must be a number of km, got {altitude_km!r}") from None
    if not math.isfinite(alt):
        raise OrbnodeError(f"altitude must be a finite number of km, got {altitude_km!r}")
    if alt < 0.0:
        raise OrbnodeError(f"altitude {alt:g} km is negative: that is inside the Earth")
    if alt < MIN_ALTITUDE_KM:
        raise OrbnodeError(
            f"altitude {alt:g} km is below {MIN_ALTITUDE_KM:g} km (Karman line): not an orbit"
        )
    if alt > MAX_ALTITUDE_KM:
        raise OrbnodeError(f"altitude {alt:g} km is above the modelled {MAX_ALTITUDE_KM:g} km")
    return alt


def check_angle_deg(value: float, name: str, lo: float, hi: float) -> float:
    """Return ``value`` as float within [lo, hi] or raise :class:`OrbnodeError`."""
    try:
        val = float(value)
    except (TypeError, ValueError):
        raise OrbnodeError(f"{name} must be a number of degrees, got {value!r}") from None
    if not math.isfinite(val) or val < lo or val > hi:
        raise OrbnodeError(f"{name} must be within {lo:g}..{hi:g} degrees, got {value!r}")
    return val


def as_utc(epoch: datetime | None) -> datetime:
    """A timezone-aware UTC datetime (naive datetimes are taken as UTC)."""
    if epoch is None:
        return DEFAULT_EPOCH
    if not isinstance(epoch, datetime):
        raise OrbnodeError(f"epoch must be a datetime, got {epoch!r}")
    if epoch.tzinfo is None:
        return epoch.replace(tzinfo=timezone.utc)
    return epoch.astimezone(timezone.utc)


def parse_epoch(text: str) -> datetime:
    """Parse an ISO-8601 epoch (``2025-06-21T12:00:00Z``); naive means UTC."""
    try:
        return as_utc(datetime.fromisoformat(text.strip().replace("Z", "+00:00")))
    except ValueError:
        raise OrbnodeError(f"epoch {text!r} is not ISO-8601 (e.g. 2025-06-21T12:00:00Z)") from None


# ---------------------------------------------------------------------------- time
def julian_date(epoch: datetime) -> tuple[float, float]:
    """(whole, fraction) Julian date of a UTC datetime, as ``sgp4.api.jday`` returns it."""
    e = as_utc(epoch)
    return jday(e.year, e.month, e.day, e.hour, e.minute, e.second + e.microsecond * 1e-6)


def gmst_rad(jd_ut1: np.ndarray | float) -> np.ndarray:
    """Greenwich mean sidereal time, IAU-82 (Vallado eq. 3-47), vectorised."""
    t = (np.asarray(jd_ut1, dtype=float) - 2451545.0) / 36525.0
    sec = 67310.54841 + (876600.0 * 3600.0 + 8640184.812866) * t + 0.093104 * t**2 - 6.2e-6 * t**3
    return np.mod(np.deg2rad(sec / 240.0), 2.0 * np.pi)


def subpoint_deg(r_eci_km: np.ndarray, jd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Geocentric latitude and longitude (east, -180..180) under ECI positions at ``jd``."""
    r = np.atleast_2d(r_eci_km)
    lon = np.arctan2(r[:, 1], r[:, 0]) - gmst_rad(jd)
    lon = np.mod(lon + np.pi, 2.0 * np.pi) - np.pi
    lat = np.arcsin(np.clip(r[:, 2] / np.linalg.norm(r, axis=1), -1.0, 1.0))
    return np.rad2deg(lat), np.rad2deg(lon)


# ---------------------------------------------------------------------------- Kepler
def period_s(altitude_km: float) -> float:
    """Keplerian period T = 2 pi sqrt(a^3/mu) of a circular orbit at ``altitude_km``."""
    a = R_EARTH_KM + check_altitude_km(altitude_km)
    return 2.0 * math.pi * math.sqrt(a**3 / MU_EARTH_KM3_S2)


def raan_rate_rad_s(altitude_km: float, inclination_deg: float) -> float:
    """J2 secular node drift dOmega/dt = -3/2 n J2 (R/a)^2 cos i (circular orbit)."""
    a = R_EARTH_KM + altitude_km
    n = math.sqrt(MU_EARTH_KM3_S2 / a**3)
    return -1.5 * n * J2_EARTH * (R_EARTH_KM / a) ** 2 * math.cos(math.radians(inclination_deg))


def sun_synchronous_inclination_deg(altitude_km: float) -> float:
    """Inclination whose J2 node drift is +360 deg per tropical year (Vallado eq. 11-14)."""
    alt = check_altitude_km(altitude_km)
    a = R_EARTH_KM + alt
    n = math.sqrt(MU_EARTH_KM3_S2 / a**3)
    rate = 2.0 * math.pi / (TROPICAL_YEAR_DAYS * SECONDS_PER_DAY)
    cos_i = -rate / (1.5 * n * J2_EARTH * (R_EARTH_KM / a) ** 2)
    if cos_i < -1.0:
        raise OrbnodeError(f"no sun-synchronous orbit exists at {alt:g} km")
    return math.degrees(math.acos(cos_i))



def raan_deg_from_ltan_h(ltan_h: float, sun_right_ascension_deg: float) -> float:
    """RAAN, degrees in [0, 360), of the orbit whose ascending node is crossed at local
    solar time ``ltan_h`` (hours), given the Sun's right ascension (degrees).

    Local apparent solar time at a place is 12 h plus the hour angle of the true Sun
    there, at 15 deg per hour (Vallado 4th ed., ch. 3, solar time). At the ascending
    node the Sun's hour angle is the node's right ascension minus the Sun's, so::

        LTAN  = 12 h + (Omega - alpha_sun) / (15 deg/h)
        Omega = alpha_sun + 15 deg/h * (LTAN - 12 h)      (mod 360 deg)

    06:00 and 18:00 are the dawn-dusk orbits (node 90 deg west or east of the Sun),
    12:00 the noon-midnight one. With alpha_sun of the true Sun
    (:func:`firmware_stubs.sunlib.sun_right_ascension_deg` at the epoch) the LTAN is
    apparent solar time; a mission quoting mean solar time differs by the equation of
    time (at most about 16 min, i.e. 4 deg of RAAN).
    """
    return (sun_right_ascension_deg + 15.0 * (ltan_h - 12.0)) % 360.0

@dataclass(frozen=True)
class CircularOrbit:
    """A circular orbit: altitude, inclination, RAAN and argument of latitude at ``epoch``."""

    altitude_km: float
    inclination_deg: float = 51.6
    raan_deg: float = 0.0
    arg_latitude_deg: float = 0.0
    epoch: datetime = DEFAULT_EPOCH
    j2: bool = True  # secular nodal precession on/off

    def __post_init__(self) -> None:
        check_altitude_km(self.altitude_km)
        check_angle_deg(self.inclination_deg, "inclination", 0.0, 180.0)
        check_angle_deg(self.raan_deg, "RAAN", -360.0, 360.0)
        object.__setattr__(self, "epoch", as_utc(self.epoch))

    @property
    def semi_major_axis_km(self) -> float:
        return R_EARTH_KM + self.altitude_km

    @property
    def period_s(self) -> float:
        return period_s(self.altitude_km)

    @property
    def mean_motion_rad_s(self) -> float:
        return 2.0 * math.pi / self.period_s

    @property
    def raan_rate_rad_s(self) -> float:
        return raan_rate_rad_s(self.altitude_km, self.inclination_deg) if self.j2 else 0.0

    def _angles(self, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t = np.asarray(t_s, dtype=float)
        u = math.radians(self.arg_latitude_deg) + self.mean_motion_rad_s * t
        raan = math.radians(self.raan_deg) + self.raan_rate_rad_s * t
        return u, raan

    def position_eci_km(self, t_s: np.ndarray) -> np.ndarray:
        """(N, 3) ECI positions at ``t_s`` seconds after ``epoch``."""
        u, raan = self._angles(np.atleast_1d(t_s))
        ci, si = (
            math.cos(math.radians(self.inclination_deg)),
            math.sin(math.radians(self.inclination_deg)),
        )
        cu, su, co, so = np.cos(u), np.sin(u), np.cos(raan), np.sin(raan)
        a = self.semi_major_axis_km
        return a * np.stack([cu * co - su * ci * so, cu * so + su * ci * co, su * si], axis=-1)

    def velocity_eci_km_s(self, t_s: np.ndarray) -> np.ndarray:
        """(N, 3) ECI velocities (the slow node drift is neglected here)."""
        u, raan = self._angles(np.atleast_1d(t_s))
        ci, si = (
            math.cos(math.radians(self.inclination_deg)),
            math.sin(math.radians(self.inclination_deg)),
        )
        cu, su, co, so = np.cos(u), np.sin(u), np.cos(raan), np.sin(raan)
        v = self.semi_major_axis_km * self.mean_motion_rad_s
        return v * np.stack([-su * co - cu * ci * so, -su * so + cu * ci * co, cu * si], axis=-1)

    def normal_eci(self, t_s: np.ndarray) -> np.ndarray:
        """(N, 3) unit orbit normal h/|h| = [sin i sin Omega, -sin i cos Omega, cos i]."""
        _, raan = self._angles(np.atleast_1d(t_s))
        i = math.radians(self.inclination_deg)
        return np.stack(
            [
                math.sin(i) * np.sin(raan),
                -math.sin(i) * np.cos(raan),
                np.full_like(raan, math.cos(i)),
            ],
            axis=-1,
        )


# ---------------------------------------------------------------------------- TLE / SGP4
def _tle_checksum_ok(line: str) -> bool:
    total = 0
    for ch in line[:68]:
        if ch.isdigit():
            total += int(ch)
        elif ch == "-":
            total += 1
    return line[68].isdigit() and total % 10 == int(line[68])


def parse_tle(text: str) -> tuple[str, str]:
    """Two TLE lines from ``text`` (2 or 3 lines, a name line allowed), checked.

    Raises :class:`OrbnodeError` with one line when the text is not a valid TLE
    (line numbers, lengths, matching catalogue numbers, modulo-10 checksums).
    """
    lines = [ln.rstrip() for ln in str(text).splitlines() if ln.strip()]
    l1 = next((ln for ln in lines if ln.startswith("1 ")), None)
    l2 = next((ln for ln in lines if ln.startswith("2 ")), None)
    if l1 is None or l2 is None:
        raise OrbnodeError("unreadable TLE: need a line starting '1 ' and one starting '2 '")
    return check_tle(l1, l2)


def check_tle(line1: str, line2: str) -> tuple[str, str]:
    """Validate a TLE pair (lengths, catalogue numbers, checksums); return it stripped."""
    l1, l2 = str(line1).rstrip(), str(line2).rstrip()
    for num, ln in (("1", l1), ("2", l2)):
        if len(ln) < 69 or not ln.startswith(num + " "):
            raise OrbnodeError(
                f"unreadable TLE: line {num} must be 69 characters starting '{num} '"
            )
        if not _tle_checksum_ok(ln):
            raise OrbnodeError(f"unreadable TLE: checksum of line {num} does not match")
    if l1[2:7] != l2[2:7]:
        raise OrbnodeError("unreadable TLE: the two lines name different satellites")
    return l1[:69], l2[:69]


class TLEOrbit:
    """A real orbit from a two-line element set, propagated with SGP4 (TEME, km)."""

    def __init__(self, line1: str, line2: str, epoch: datetime | None = None) -> None:
        self.line1, self.line2 = check_tle(line1, line2)
        try:
            self.satrec = Satrec.twoline2rv(self.line1, self.line2)
        except (ValueError, IndexError) as exc:
            raise OrbnodeError(f"unreadable TLE: {exc}") from None
        if self.satrec.error != 0 or not self.satrec.no_kozai > 0:
            raise OrbnodeError(
                f"unreadable TLE: sgp4 rejected the elements (error {self.satrec.error})"
            )
        self.tle_epoch = sat_epoch_datetime(self.satrec).astimezone(timezone.utc)
        self.epoch = as_utc(epoch) if epoch is not None else self.tle_epoch
        self._jd0, self._fr0 = julian_date(self.epoch)
        self.inclination_deg = math.degrees(self.satrec.inclo)
        self.raan_deg = math.degrees(self.satrec.nodeo)
        r0 = self.position_eci_km(np.array([0.0]))[0]
        self.altitude_km = float(np.linalg.norm(r0) - R_EARTH_KM)
        self.semi_major_axis_km = float(self.satrec.a * R_EARTH_KM)
        if self.semi_major_axis_km * (1.0 - self.satrec.ecco) < R_EARTH_KM:
            raise OrbnodeError("unreadable TLE: its perigee lies inside the Earth")

    @property
    def period_s(self) -> float:
        """Period from the SGP4 mean motion (un-Kozai'd, rad/min)."""
        return 2.0 * math.pi / self.satrec.no_kozai * 60.0

    def _propagate(self, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t = np.atleast_1d(np.asarray(t_s, dtype=float))
        jd = np.full(t.shape, self._jd0)
        fr = self._fr0 + t / SECONDS_PER_DAY
        err, r, v = self.satrec.sgp4_array(jd, fr)
        bad = np.flatnonzero(err)
        if bad.size:
            raise OrbnodeError(
                f"sgp4 cannot propagate this TLE to t = {t[bad[0]]:.0f} s"
                f" (error {int(err[bad[0]])}, e.g. the satellite has decayed)"
            )
        return r, v

    def position_eci_km(self, t_s: np.ndarray) -> np.ndarray:
        return self._propagate(t_s)[0]

    def velocity_eci_km_s(self, t_s: np.ndarray) -> np.ndarray:
        return self._propagate(t_s)[1]

    def normal_eci(self, t_s: np.ndarray) -> np.ndarray:
        r, v = self._propagate(t_s)
        h = np.cross(r, v)
        return h / np.linalg.norm(h, axis=1, keepdims=True)


@dataclass(frozen=True)
class FixedBetaGeometry:
    """A circular orbit whose Sun is held fixed at angle ``beta_deg`` to the orbit plane.

    The Sun direction is s = cos(beta) P + sin(beta) W, with P the ascending-node
    direction and W the orbit normal; the spacecraft starts at u = ``arg_latitude_deg``
    (0: orbit noon). Latitude and longitude still follow from Earth rotation.
    """

    orbit: CircularOrbit
    beta_deg: float = 0.0

    def sun_unit_eci(self) -> np.ndarray:
        o = self.orbit
        i, raan = math.radians(o.inclination_deg), math.radians(o.raan_deg)
        p = np.array([math.cos(raan), math.sin(raan), 0.0])
        w = np.array([math.sin(i) * math.sin(raan), -math.sin(i) * math.cos(raan), math.cos(i)])
        b = math.radians(self.beta_deg)
        return math.cos(b) * p + math.sin(b) * w


Orbit = CircularOrbit | TLEOrbit
