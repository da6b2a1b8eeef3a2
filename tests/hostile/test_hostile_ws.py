"""Hostile websocket peers the probe-level tests (tests/probes/test_websocket.py)
do not already cover: a 101 answer trickled one byte a second, and a 101 with
one 1 MB header line. Endless header lines, garbage frames and a 100 MB frame
are covered there, and again through the whole runner in
test_hostile_pipeline.py."""

from __future__ import annotations

import re

from hostilekit import SLACK, TIMEOUT, Start, endpoint, run_phases

from netcheck.lab.hostile_servers import LongHeaderLineServer, TrickleHeadServer
from netcheck.lab.pki import LabPki
from netcheck.probes.https import MAX_HEAD_BYTES, READ_CHUNK

HOST = "hostile-ws.lab.netcheck.test"
SWITCHING = b"HTTP/1.1 101 Switching Protocols"


async def test_slowloris_101_is_ws_timeout(pki: LabPki, start: Start) -> None:
    # Given a server that completes TLS, then sends its 101 one byte a second
    server = await start(TrickleHeadServer, pki.server_context(HOST), SWITCHING, 1.0)
    # When TCP, TLS and the websocket phase run with a 1 s timeout
    ran = await run_phases(endpoint(HOST, server.port, "wss"), ca_bundle=pki.ca_bundle)
    # Then the upgrade is given up at the timeout: ws.timeout, the bytes counted
    r = ran.results["websocket"]
    assert (r.code, r.status) == ("ws.timeout", "fail")
    assert re.fullmatch(r"No answer to the websocket upgrade request within 1 s "
                        r"\([1-3] bytes received\)", r.detail), r.detail
    assert r.data["upgraded"] is False
    assert ran.seconds < TIMEOUT + SLACK
    assert server.bytes_sent <= 3
    assert server.accepted == 1


async def test_one_megabyte_header_line_in_a_101_is_cut_at_64_kib(
        pki: LabPki, start: Start) -> None:
    # Given a 101 status line, then one header line of 1 MB with no line end
    server = await start(LongHeaderLineServer, pki.server_context(HOST), 1024 * 1024,
                         SWITCHING)
    # When the websocket phase runs
    ran = await run_phases(endpoint(HOST, server.port, "wss"), ca_bundle=pki.ca_bundle)
    # Then it gives up after 64 KiB of head: ws.protocol_error, at once
    r = ran.results["websocket"]
    assert (r.code, r.status) == ("ws.protocol_error", "fail")
    assert r.detail == ("The answer to the websocket upgrade broke the protocol: more than "
                        "64 KiB before the end of the response head")
    assert r.data["bytes_received"] <= MAX_HEAD_BYTES + READ_CHUNK
    assert ran.seconds < 1.0
    # And memory stayed far below the line's size
    assert ran.peak_bytes < 1024 * 1024
