"""The ground side of the link: what a ground station keeps and what it reads.

- :mod:`.ccsds` splits a byte stream into CCSDS Space Packets by their primary header,
- :mod:`.capture` taps a :class:`node.link.Link` into ``tm.bin``/``tc.bin`` and the archive,
- :mod:`.xtce` and :mod:`.cosmos` generate ground definitions from ``node/packets``,
- :mod:`.decode` reads a capture back, :mod:`.export` writes the archive as CSV/Parquet,
- :mod:`.tcp` serves the live telemetry to ground tools (Yamcs, OpenC3 COSMOS).
"""
