"""The on-board telemetry store: what the node could not send while out of contact.

Packets are kept as built (their sequence count and CDS timestamp from when they
were made) in a bounded FIFO and dumped oldest first when contact returns, as a
spacecraft dumps its stored telemetry at the next ground pass. When the store is
full the oldest packet makes room for the newest (the latest state matters most)
and ``overflow`` counts it: nothing is dropped without being counted, and the
gap shows in the packets' sequence counts on the ground.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator


class TelemetryStore:
    def __init__(self, capacity_packets: int) -> None:
        if capacity_packets < 1:
            raise ValueError("the store must hold at least one packet")
        self.capacity_packets = capacity_packets
        self._packets: deque[bytes] = deque()
        self.stored = 0    # packets ever put in
        self.overflow = 0  # packets pushed out unsent by newer ones
        self.dumped = 0    # packets sent on from the store

    def __len__(self) -> int:
        return len(self._packets)

    def put(self, raw: bytes) -> None:
        if len(self._packets) >= self.capacity_packets:
            self._packets.popleft()
            self.overflow += 1
        self._packets.append(raw)
        self.stored += 1

    def peek(self) -> Iterator[bytes]:
        """Oldest first; call :meth:`sent` for each one that went out."""
        return iter(list(self._packets))

    def sent(self) -> None:
        self._packets.popleft()
        self.dumped += 1
