"""Every hostile case through the whole pipeline: a catalogue pointing at the
hostile servers, a lab DNS zone with hostile names, ``runner.run_catalog``.
The run as a whole must end within a few phase timeouts with bounded memory,
and every endpoint with its code."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from hostilekit import SLACK, ServerThread, peak_rss, reset_peak_rss

from netcheck.catalog import parse_catalog
from netcheck.lab.app_servers import HugeHeaderServer, WsGarbageFramesServer, WsHugeFrameServer
from netcheck.lab.dns_server import LabDnsServer, ZoneEntry
from netcheck.lab.hostile_servers import (
    LongHeaderLineServer,
    TrickleHeadServer,
    TrickleTlsServer,
    deep_chain_context,
    deep_root,
)
from netcheck.lab.pki import LabPki
from netcheck.lab.tls_servers import TlsServer
from netcheck.model import RunReport
from netcheck.probes.base import ProbeOptions
from netcheck.render.json import render as render_json
from netcheck.reportschema import validate_report
from netcheck.runner import RunOptions, run_catalog

TIMEOUT = 1.0
DOMAIN = "lab.netcheck.test"

SWITCHING = b"HTTP/1.1 101 Switching Protocols"


def host(name: str) -> str:
    return f"{name}.{DOMAIN}"


def codes_of(report: RunReport) -> dict[str, tuple[str, set[str]]]:
    found: dict[str, tuple[str, set[str]]] = {}
    for ep in report.endpoints:
        seen = {ep.dns.code}
        for t in ep.targets:
            seen.update(p.code for p in t.phases)
        found[ep.name] = (ep.status, seen)
    return found


async def test_every_hostile_case_through_the_runner_is_bounded(
        pki: LabPki, threaded: ServerThread, tmp_path: Path) -> None:
    # Given hostile servers of every kind (on a loop of their own), each behind a lab name
    root = deep_root(49)
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(pki.vendor.cert_pem.bytes() + root.cert_pem.bytes())

    def good(name: str) -> Any:
        return pki.server_context(host(name))

    servers: dict[str, tuple[str, Any]] = {
        "slow-tls": ("tls", threaded.start(TrickleTlsServer, good("slow-tls"), 1.0)),
        "slow-101": ("wss", threaded.start(TrickleHeadServer, good("slow-101"), SWITCHING, 1.0)),
        "slow-http": ("https", threaded.start(TrickleHeadServer, good("slow-http"))),
        "endless-headers-ws": ("wss", threaded.start(HugeHeaderServer, good("endless-headers-ws"),
                                                  status_line=SWITCHING)),
        "endless-headers-http": ("https", threaded.start(HugeHeaderServer,
                                                      good("endless-headers-http"))),
        "long-line-ws": ("wss", threaded.start(LongHeaderLineServer, good("long-line-ws"),
                                            1024 * 1024, SWITCHING)),
        "long-line-http": ("https", threaded.start(LongHeaderLineServer, good("long-line-http"))),
        "deep-chain": ("tls", threaded.start(TlsServer,
                                          deep_chain_context(root, 49, host("deep-chain")))),
        "ws-garbage": ("wss", threaded.start(WsGarbageFramesServer, good("ws-garbage"))),
        "ws-100mb": ("wss", threaded.start(WsHugeFrameServer, good("ws-100mb"))),
        # DNS cases, each in front of a good TLS server on its published address
        "dns-truncated": ("tls", threaded.start(TlsServer, good("dns-truncated"))),
        "dns-hundreds": ("tls", threaded.start(TlsServer, good("dns-hundreds"))),
        "dns-wrong-id": ("tls", threaded.start(TlsServer, good("dns-wrong-id"))),
        "dns-silent": ("tls", threaded.start(TlsServer, good("dns-silent"))),
    }
    expected: dict[str, tuple[str, str]] = {
        "slow-tls": ("fail", "tls.timeout"),
        "slow-101": ("fail", "ws.timeout"),
        "slow-http": ("fail", "http.timeout"),
        "endless-headers-ws": ("fail", "ws.protocol_error"),
        "endless-headers-http": ("fail", "http.error"),
        "long-line-ws": ("fail", "ws.protocol_error"),
        "long-line-http": ("fail", "http.error"),
        "deep-chain": ("pass", "tls.ok"),
        "ws-garbage": ("fail", "ws.protocol_error"),
        "ws-100mb": ("fail", "ws.protocol_error"),
        "dns-truncated": ("pass", "dns.ok"),
        "dns-hundreds": ("warn", "dns.unexpected_ip"),
        "dns-wrong-id": ("fail", "dns.timeout"),
        "dns-silent": ("fail", "dns.timeout"),
    }
    zone = {host(n): ZoneEntry(a=("127.0.0.1",)) for n in servers}
    zone[host("dns-truncated")] = ZoneEntry(a=("127.0.0.1",), truncate_udp=True)
    zone[host("dns-hundreds")] = ZoneEntry(a=("127.0.0.1",), many=300)
    zone[host("dns-wrong-id")] = ZoneEntry(a=("127.0.0.1",), wrong_id=True)
    zone[host("dns-silent")] = ZoneEntry(silent=True)
    dns_server = threaded.start(LabDnsServer, zone)
    lines = ["version: 1", f"defaults: {{timeout: {TIMEOUT}}}", "endpoints:"]
    for name, (probe, server) in servers.items():
        lines += [f"  - name: {name}", f"    host: {host(name)}", f"    port: {server.port}",
                  f"    probe: {probe}", "    expected_ips: [127.0.0.1]"]
    catalog = parse_catalog("\n".join(lines) + "\n", "hostile.yaml")
    # Only the published address is probed: the hundreds of generated answers
    # include unique-local IPv6 addresses, which must not be connected to.
    options = RunOptions(probe=ProbeOptions(ca_bundle=bundle, resolvers=(dns_server.resolver,)),
                         targets="expected", concurrency=64)

    # When the whole pipeline runs over them
    rss_before = reset_peak_rss()
    t0 = time.perf_counter()
    report = await run_catalog(catalog, options)
    seconds = time.perf_counter() - t0
    growth = peak_rss() - rss_before

    # Then every endpoint ends with its code
    got = codes_of(report)
    for name, (status, code) in expected.items():
        assert got[name][0] == status and code in got[name][1], (name, got[name])
    # And the run took at most DNS + TLS timeouts, endpoints running side by
    # side (the silent DNS name costs one timeout, then its target is probed)
    assert seconds < 2 * TIMEOUT + SLACK
    # And nothing read an unbounded head or frame: a 100 MB frame, 100 MB of
    # headers and a 1 MB line all went by while the process's peak RSS grew
    # by a few MiB (servers included), and the senders got nowhere near the end
    assert growth < 32 * 1024 * 1024, growth
    assert servers["ws-100mb"][1].bytes_sent < 16 * 1024 * 1024
    assert servers["endless-headers-http"][1].bytes_sent < 16 * 1024 * 1024
    # And the DNS facts are the hostile ones: TCP fallback, 601 answers
    assert dns_server.tcp_queries[(host("dns-truncated"), "A")] == 1
    hundreds = next(e for e in report.endpoints if e.name == "dns-hundreds")
    assert len(hundreds.dns.addresses) == 601  # the published one and 300 A + 300 AAAA
    assert len(hundreds.targets) == 1
    # And the report of it all is a valid report
    assert validate_report(json.loads(render_json(report))) == []
