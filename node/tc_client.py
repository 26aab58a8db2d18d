"""One telecommand from a ground client, and the node's verification of it (PUS service 1).

The command is sent signed and asks for the acceptance and completion reports. A
report is believed only if it answers this request id and carries the node's tag
bound to this command (:func:`node.auth.report_authentic`); any other (forged,
replayed, or under another key) is counted, never believed.
"""

from __future__ import annotations

import time
from typing import Any

from node.auth import report_authentic
from node.link import Link

ACK_ACCEPT_AND_COMPLETE = 0b1001  # PUS ack flags: acceptance and completion reports


def send_verified(link: Link, name: str, values: Any, key: bytes,
                  timeout_s: float) -> dict[str, Any]:
    """Send telecommand ``name`` on ``link`` and await its authentic verification reports.

    Returns ``request_id``, ``accepted`` and ``completed`` (True, False, or None for
    no authentic report within ``timeout_s``), ``reason`` where it failed (the node's
    failure code, or why no report was believed) and ``unverified_reports`` where
    reports with a tag that does not verify under ``key`` came.
    """
    packets = link.packets
    raw = link.send(name, values, ack_flags=ACK_ACCEPT_AND_COMPLETE)
    request, trailer = int.from_bytes(raw[:4], "big"), packets.parse(raw).trailer
    result: dict[str, Any] = {"request_id": request, "accepted": None, "completed": None}
    unverified = 0
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and result["completed"] is None:
        for pkt in link.receive(0.05):
            if not pkt.name.startswith("verify_") or pkt.values["request_id"] != request:
                continue
            if not report_authentic(key, pkt, trailer):
                unverified += 1  # forged, replayed, or under another key: not believed
                continue
            code = pkt.values.get("code")
            reason = packets.enum_name("failure", code) if code is not None else None
            if pkt.name.startswith("verify_accept"):
                result["accepted"] = pkt.name.endswith("ok")
                if not result["accepted"]:
                    result["reason"] = reason
                    result["completed"] = False
            else:
                result["completed"] = pkt.name.endswith("ok")
                if reason:
                    result["reason"] = reason
    if unverified:
        result["unverified_reports"] = unverified
    if result["accepted"] is None:
        result["reason"] = (f"no authentic verification report within {timeout_s:g} s"
                            + (f" ({unverified} with a tag that does not verify under this "
                               "key: wrong key, insecure node, or forged)" if unverified
                               else ""))
    return result
