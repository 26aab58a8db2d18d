"""Throughput-per-watt and micro benchmarks (``make bench``)."""
