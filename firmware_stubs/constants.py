"""Physical constants of the environment models (SI units, unless the name says km).

Sources:
- Earth radius and GM: WGS-84 (NIMA TR8350.2) / EGM-96, as used by Vallado,
  *Fundamentals of Astrodynamics and Applications*, 4th ed., table D-1.
- J2: EGM-96 (Vallado table D-1).
- Solar radius 696 000 km and AU: Montenbruck & Gill, *Satellite Orbits* (2000), §3.4
  and IAU 2012 Resolution B2.
- Solar constant 1361 W/m^2: Kopp & Lean, GRL 38 (2011) L01706.
- Earth albedo 0.30 and outgoing long-wave 237 W/m^2: orbit-average design values,
  Gilmore, *Spacecraft Thermal Control Handbook* vol. 1 (2002), ch. 2.
- Stefan-Boltzmann constant: CODATA 2018 (exact in SI 2019).
"""

from __future__ import annotations

R_EARTH_KM = 6378.137  # equatorial radius, spherical-Earth model
MU_EARTH_KM3_S2 = 398600.4418
J2_EARTH = 1.08262668e-3
OMEGA_EARTH_RAD_S = 7.2921150e-5  # sidereal rotation rate
R_SUN_KM = 696000.0
AU_KM = 149597870.7
SOLAR_CONSTANT_W_M2 = 1361.0
STEFAN_BOLTZMANN_W_M2_K4 = 5.670374419e-8
EARTH_ALBEDO = 0.30
EARTH_IR_W_M2 = 237.0
ZERO_C_K = 273.15
SECONDS_PER_DAY = 86400.0
TROPICAL_YEAR_DAYS = 365.2422
JD_J2000 = 2451545.0
MIN_ALTITUDE_KM = 100.0  # Karman line: nothing below it is an orbit
MAX_ALTITUDE_KM = 100000.0  # the models (spherical Earth, no lunar terms) stop here
