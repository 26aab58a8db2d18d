"""Stand-ins for spacecraft-bus firmware (EPS, thermal sensors, watchdog) and the
host-side simulator that plays them over the serial link."""
