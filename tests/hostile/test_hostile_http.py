"""Hostile HTTPS peers the probe-level tests (tests/probes/test_https.py) do
not already cover: response headers trickled one byte a second, and one
1 MB header line. Endless header lines and a large body are covered there."""

from __future__ import annotations

import re

from hostilekit import SLACK, TIMEOUT, Start, endpoint, run_phases

from netcheck.lab.hostile_servers import LongHeaderLineServer, TrickleHeadServer
from netcheck.lab.pki import LabPki
from netcheck.probes.https import MAX_HEAD_BYTES, READ_CHUNK

HOST = "hostile-api.lab.netcheck.test"


async def test_slowloris_headers_are_http_timeout(pki: LabPki, start: Start) -> None:
    # Given a server that completes TLS, then sends "HTTP/1.1 200 OK" and
    # headers without end, one byte a second
    server = await start(TrickleHeadServer, pki.server_context(HOST), b"HTTP/1.1 200 OK", 1.0)
    # When TCP, TLS and the https phase run with a 1 s timeout
    ran = await run_phases(endpoint(HOST, server.port, "https"), ca_bundle=pki.ca_bundle)
    # Then the request is given up at the timeout: http.timeout
    r = ran.results["https"]
    assert (r.code, r.status) == ("http.timeout", "fail")
    assert re.fullmatch(r"No HTTP response head within 1 s \([1-3] bytes received\)",
                        r.detail), r.detail
    assert ran.seconds < TIMEOUT + SLACK
    assert server.bytes_sent <= 3
    assert server.accepted == 1


async def test_one_megabyte_header_line_is_http_error(pki: LabPki, start: Start) -> None:
    # Given a status line, then one header line of 1 MB with no line end
    server = await start(LongHeaderLineServer, pki.server_context(HOST), 1024 * 1024)
    # When the https phase runs
    ran = await run_phases(endpoint(HOST, server.port, "https"), ca_bundle=pki.ca_bundle)
    # Then it is http.error once 64 KiB of head have come, at once
    r = ran.results["https"]
    assert (r.code, r.status) == ("http.error", "fail")
    assert r.detail == ("Invalid HTTP response: more than 64 KiB before the end of the "
                        "response head")
    assert r.data["bytes_received"] <= MAX_HEAD_BYTES + READ_CHUNK
    assert ran.seconds < 1.0
    assert ran.peak_bytes < 1024 * 1024
