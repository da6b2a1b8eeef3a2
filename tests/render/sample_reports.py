"""Fixed reports built by hand, shared by every renderer's tests.

``sample_report()`` is a realistic run: a customer network with a DROP rule
on 8021, an SNI filter, a TLS-inspecting proxy (Zscaler), a proxy that only
allows CONNECT to 443, a broken split-horizon zone and a CDN host on an
IPv4-only machine. Every code appears with the ``data`` its probe records.

``hostile_report()`` has the same shape, but every string that came from the
network (or from a JSON file someone handed us) tries to break a renderer:
HTML, rich markup, ANSI/OSC escapes, NUL and other control characters,
quotes, commas, newlines, spreadsheet formulas and very long names.

Findings are written out here from the codes table (not computed by
``netcheck.diagnosis``), so golden files do not move when the diagnosis code
is refactored; ``tests/test_diagnosis.py`` checks the two agree.

Both are exposed as pytest fixtures ``sample_report`` and ``hostile_report``
by ``tests/render/conftest.py``.
"""

from __future__ import annotations

from typing import Any

from netcheck import codes
from netcheck.codes import Status
from netcheck.model import (
    CatalogInfo,
    DnsResult,
    EndpointResult,
    Finding,
    HostInfo,
    PhaseResult,
    RunReport,
    Summary,
    TargetResult,
    TargetSource,
    skipped,
)

RESOLVER = "10.0.0.2"
PROXY = "http://proxy.corp.example:3128"

HOSTILE_HTML = "<script>alert(1)</script>"
HOSTILE_MARKUP = "[bold red]x[/]"
HOSTILE_ANSI = "\x1b[31m"
HOSTILE_OSC = "\x1b]0;title\x07"
HOSTILE_CONTROL = "nul\x00bs\x08del\x7fc1\x9b"
HOSTILE_CSV = 'a "quoted", comma\nnew line\r\nand more'
HOSTILE_FORMULA = "=HYPERLINK(\"http://evil.example\",\"x\")"
HOSTILE_LONG = "very-long-" + "x" * 400 + ".example"


# -- building blocks -----------------------------------------------------------


def _phase(phase: str, code: str, ms: float, detail: str = "",
           **data: Any) -> PhaseResult:
    return PhaseResult(phase=phase, status=codes.status_of(code), code=code,
                       duration_ms=ms, detail=detail, data=data)


def _target(ip: str | None, source: TargetSource, *phases: PhaseResult) -> TargetResult:
    return TargetResult(ip=ip, source=source,
                        status=codes.worst([p.status for p in phases]), phases=phases)


def _resolver_answer(code: str, a: list[str], aaaa: list[str] | None = None,
                     resolver: str = RESOLVER) -> dict[str, Any]:
    return {"resolver": resolver, "code": code, "a": a, "aaaa": aaaa or []}


def _dns(code: str, ms: float, detail: str, *, addresses: tuple[str, ...] = (),
         expected: tuple[str, ...] = (), answers: list[dict[str, Any]] | None = None
         ) -> DnsResult:
    unexpected = tuple(a for a in addresses if expected and a not in expected)
    missing = tuple(e for e in expected if e not in addresses)
    return DnsResult(status=codes.status_of(code), code=code, duration_ms=ms, detail=detail,
                     data={"resolvers": answers or []}, addresses=addresses,
                     expected_ips=expected, unexpected=unexpected, missing=missing)


def _tls_data(host: str, issuer: str, *, version: str = "TLSv1.3",
              cipher: str = "TLS_AES_256_GCM_SHA384", not_after: str = "2027-03-01T23:59:59Z",
              sha256: str = "5f" * 32, **extra: Any) -> dict[str, Any]:
    return {"version": version, "cipher": cipher, "subject": f"CN={host}",
            "issuer": issuer, "san": [host], "not_after": not_after,
            "sha256": sha256, **extra}


def _finding(code: str, ep: tuple[str, str, int], ip: str | None, detail: str,
             severity: codes.Severity | None = None, **values: Any) -> Finding:
    """A finding worded exactly as codes.py words it."""
    name, host, port = ep
    entry = codes.get(code)
    sev = severity or entry.severity
    assert sev is not None
    summary = f"{entry.meaning} {detail}".strip()
    action = codes.render_action(code, {"host": host, "port": port, "ip": ip,
                                        "target": ip or host, "server": "", "hint": "",
                                        **values})
    return Finding(code=code, severity=sev, endpoint=name, host=host, ip=ip, port=port,
                   summary=summary, action=action)


def _endpoint(ep: tuple[str, str, int], probe: str, dns: DnsResult,
              targets: tuple[TargetResult, ...], findings: tuple[Finding, ...],
              status: Status, *, tags: tuple[str, ...], purpose: str,
              required: bool = True) -> EndpointResult:
    name, host, port = ep
    return EndpointResult(name=name, host=host, port=port, probe=probe, required=required,
                          tags=tags, status=status, dns=dns, targets=targets,
                          findings=findings, purpose=purpose)


def _summary(endpoints: tuple[EndpointResult, ...]) -> Summary:
    count = {s: sum(1 for e in endpoints if e.status == s) for s in ("pass", "warn", "fail",
                                                                      "skip")}
    failed_required = any(e.required and e.status == "fail" for e in endpoints)
    status: Status = ("fail" if failed_required
                      else "warn" if count["fail"] or count["warn"] else "pass")
    return Summary(status=status, passed=count["pass"], warned=count["warn"],
                   failed=count["fail"], skipped=count["skip"])


def _report(endpoints: tuple[EndpointResult, ...], host: HostInfo,
            catalog: CatalogInfo) -> RunReport:
    return RunReport(
        tool_version="0.1.0",
        started_at="2026-12-04T10:00:00Z",
        finished_at="2026-12-04T10:00:06Z",
        duration_ms=6012.5,
        interrupted=False,
        host=host,
        catalog=catalog,
        options={"timeout": 5, "targets": "both", "concurrency": 64},
        summary=_summary(endpoints),
        endpoints=endpoints,
    )


DIGICERT = "CN=DigiCert Global G2 TLS RSA SHA256 2020 CA1,O=DigiCert Inc,C=US"
ZSCALER = ("CN=Zscaler Intermediate Root CA (zscaler.net) (t),OU=Zscaler Inc.,"
           "O=Zscaler Inc.,ST=California,C=US")


# -- the realistic report ------------------------------------------------------


def _ok_wss(ep: tuple[str, str, int], ip: str, source: TargetSource) -> TargetResult:
    _, host, port = ep
    return _target(
        ip, source,
        _phase("tcp", "tcp.ok", 21.4, f"Connected to {ip}:{port}.", ip=ip, port=port),
        _phase("tls", "tls.ok", 48.9, "TLSv1.3 handshake verified.",
               **_tls_data(host, DIGICERT)),
        _phase("websocket", "ws.ok", 62.0, "Upgraded (101); ping answered; closed cleanly.",
               status=101, upgraded=True, server="nginx"),
    )


def sample_endpoints() -> tuple[EndpointResult, ...]:
    eps: list[EndpointResult] = []

    # 1. Everything passes.
    ep = ("webclient-uk3", "webclient-uk3.moviuscorp.net", 443)
    eps.append(_endpoint(
        ep, "wss",
        _dns("dns.ok", 3.1, "Resolved to 169.50.222.162.", addresses=("169.50.222.162",),
             expected=("169.50.222.162",),
             answers=[_resolver_answer("dns.ok", ["169.50.222.162"])]),
        (_ok_wss(ep, "169.50.222.162", "both"),), (), "pass",
        tags=("websocket", "region-uk"), purpose="Secure websocket for the web client"))

    # 2. DNS hands out an address outside the published list; both work.
    ep = ("webclient-us1", "webclient-us1.moviuscorp.net", 443)
    eps.append(_endpoint(
        ep, "wss",
        _dns("dns.unexpected_ip", 2.7, "52.4.7.9 is not a published address.",
             addresses=("169.47.120.30", "52.4.7.9"), expected=("169.47.120.30",),
             answers=[_resolver_answer("dns.unexpected_ip", ["169.47.120.30", "52.4.7.9"])]),
        (_ok_wss(ep, "169.47.120.30", "both"), _ok_wss(ep, "52.4.7.9", "resolved")),
        (_finding("dns.unexpected_ip", ep, None, "52.4.7.9 is not a published address.",
                  unexpected="52.4.7.9", resolver=RESOLVER),),
        "warn", tags=("websocket", "region-us"),
        purpose="Secure websocket for the web client (US)"))

    # 3. and 4. Two hosts behind one published address, dropped on 8021.
    def dropped(ep: tuple[str, str, int], ip: str, source: TargetSource) -> TargetResult:
        return _target(
            ip, source,
            _phase("tcp", "tcp.timeout", 5000.4, f"No answer from {ip}:{ep[2]} within 5.0 s.",
                   ip=ip, port=ep[2]),
            skipped("tls"), skipped("https"))

    ep = ("sml", "sml.moviuscorp.net", 8021)
    eps.append(_endpoint(
        ep, "https",
        _dns("dns.missing_expected", 3.4, "169.63.26.228 was not in the answer.",
             addresses=("169.63.160.148",), expected=("169.63.160.148", "169.63.26.228"),
             answers=[_resolver_answer("dns.ok", ["169.63.160.148"])]),
        (dropped(ep, "169.63.160.148", "both"), dropped(ep, "169.63.26.228", "expected")),
        (_finding("dns.missing_expected", ep, None, "169.63.26.228 was not in the answer.",
                  missing="169.63.26.228"),
         _finding("tcp.timeout", ep, "169.63.160.148",
                  "No answer from 169.63.160.148:8021 within 5.0 s."),
         _finding("tcp.timeout", ep, "169.63.26.228",
                  "No answer from 169.63.26.228:8021 within 5.0 s.")),
        "fail", tags=("https",), purpose="Messaging API (SML)"))

    ep = ("us", "us.moviuscorp.net", 8021)
    eps.append(_endpoint(
        ep, "https",
        _dns("dns.ok", 2.9, "Resolved to 169.63.160.148.", addresses=("169.63.160.148",),
             expected=("169.63.160.148",),
             answers=[_resolver_answer("dns.ok", ["169.63.160.148"])]),
        (dropped(ep, "169.63.160.148", "both"),),
        (_finding("tcp.timeout", ep, "169.63.160.148",
                  "No answer from 169.63.160.148:8021 within 5.0 s."),),
        "fail", tags=("https", "region-us"), purpose="Provisioning API (US)"))

    # 5. A split-horizon zone shadows the name; the published address refuses.
    ep = ("msg-eu", "msg-eu.moviuscorp.net", 8021)
    eps.append(_endpoint(
        ep, "https",
        _dns("dns.nxdomain", 4.2, f"{RESOLVER} answered NXDOMAIN for A and AAAA.",
             expected=("158.176.1.20",),
             answers=[_resolver_answer("dns.nxdomain", [])]),
        (_target("158.176.1.20", "expected",
                 _phase("tcp", "tcp.refused", 1.3, "158.176.1.20:8021 answered RST.",
                        ip="158.176.1.20", port=8021),
                 skipped("tls"), skipped("https")),),
        (_finding("dns.nxdomain", ep, None, f"{RESOLVER} answered NXDOMAIN for A and AAAA.",
                  resolver=RESOLVER),
         _finding("tcp.refused", ep, "158.176.1.20", "158.176.1.20:8021 answered RST.")),
        "fail", tags=("https", "region-eu"), purpose="Messaging API (EU)"))

    # 6. SNI filter: TCP opens, the ClientHello gets a reset.
    ep = ("webclient-de", "webclient-de.moviuscorp.net", 443)
    eps.append(_endpoint(
        ep, "wss",
        _dns("dns.ok", 2.2, "Resolved to 158.177.2.2.", addresses=("158.177.2.2",),
             expected=("158.177.2.2",),
             answers=[_resolver_answer("dns.ok", ["158.177.2.2"])]),
        (_target("158.177.2.2", "both",
                 _phase("tcp", "tcp.ok", 19.0, "Connected to 158.177.2.2:443.",
                        ip="158.177.2.2", port=443),
                 _phase("tls", "tls.reset", 20.5,
                        "Connection reset by peer after the ClientHello."),
                 skipped("websocket")),),
        (_finding("tls.reset", ep, "158.177.2.2",
                  "Connection reset by peer after the ClientHello."),),
        "fail", tags=("websocket", "region-eu"),
        purpose="Secure websocket for the web client (DE)"))

    # 7. TLS inspection by Zscaler (its root is in the system store only).
    ep = ("webclient-ca", "webclient-ca.moviuscorp.net", 443)
    detail = "The chain is trusted by the system store only; issuer names Zscaler."
    eps.append(_endpoint(
        ep, "wss",
        _dns("dns.ok", 2.5, "Resolved to 169.55.3.3.", addresses=("169.55.3.3",),
             expected=("169.55.3.3",), answers=[_resolver_answer("dns.ok", ["169.55.3.3"])]),
        (_target("169.55.3.3", "both",
                 _phase("tcp", "tcp.ok", 18.2, "Connected to 169.55.3.3:443.",
                        ip="169.55.3.3", port=443),
                 _phase("tls", "tls.intercepted", 61.7, detail,
                        **_tls_data("webclient-ca.moviuscorp.net", ZSCALER,
                                    version="TLSv1.2", cipher="ECDHE-RSA-AES128-GCM-SHA256",
                                    not_after="2026-12-18T10:00:00Z", sha256="a1" * 32,
                                    trusted_by="system", problems=["intercepted"])),
                 skipped("websocket")),),
        (_finding("tls.intercepted", ep, "169.55.3.3", detail, issuer=ZSCALER),),
        "fail", tags=("websocket", "region-ca"),
        purpose="Secure websocket for the web client (CA)"))

    # 8. The upgrade works, then frames are eaten.
    ep = ("push", "push.moviuscorp.net", 443)
    eps.append(_endpoint(
        ep, "wss",
        _dns("dns.ok", 2.0, "Resolved to 169.62.4.4.", addresses=("169.62.4.4",),
             expected=("169.62.4.4",), answers=[_resolver_answer("dns.ok", ["169.62.4.4"])]),
        (_target("169.62.4.4", "both",
                 _phase("tcp", "tcp.ok", 17.5, "Connected to 169.62.4.4:443.",
                        ip="169.62.4.4", port=443),
                 _phase("tls", "tls.ok", 44.1, "TLSv1.3 handshake verified.",
                        **_tls_data("push.moviuscorp.net", DIGICERT, sha256="b2" * 32)),
                 _phase("websocket", "ws.no_pong", 5003.0,
                        "Upgraded (101) but no pong within 5.0 s.",
                        status=101, upgraded=True, server="nginx")),),
        (_finding("ws.no_pong", ep, "169.62.4.4", "Upgraded (101) but no pong within 5.0 s."),),
        "fail", tags=("websocket",), purpose="Push notifications websocket"))

    # 9. A CDN host: no published address; IPv4 dropped, IPv6 has no route here.
    ep = ("cdn", "cdn.moviuscorp.net", 443)
    v6 = "2606:4700::6812:1401"
    eps.append(_endpoint(
        ep, "https",
        _dns("dns.ok", 5.8, f"Resolved to 104.18.20.1, {v6}.",
             addresses=("104.18.20.1", v6),
             answers=[_resolver_answer("dns.ok", ["104.18.20.1"], [v6])]),
        (_target("104.18.20.1", "resolved",
                 _phase("tcp", "tcp.timeout", 5000.2, "No answer from 104.18.20.1:443 within "
                        "5.0 s.", ip="104.18.20.1", port=443),
                 skipped("tls"), skipped("https")),
         _target(v6, "resolved",
                 _phase("tcp", "tcp.family_unavailable", 0.1,
                        "This host has no IPv6 route; not counted.", ip=v6, port=443),
                 skipped("tls"), skipped("https"))),
        (_finding("tcp.timeout", ep, "104.18.20.1",
                  "No answer from 104.18.20.1:443 within 5.0 s."),),
        "fail", tags=("https", "cdn"), purpose="Web client assets (CDN)"))

    # 10. Through the proxy: CONNECT to 8021 is denied (squid allows 443 only).
    ep = ("api-eu", "api-eu.moviuscorp.com", 8021)
    eps.append(_endpoint(
        ep, "https",
        _dns("dns.ok", 3.0, "Resolved to 158.176.9.9.", addresses=("158.176.9.9",),
             expected=("158.176.9.9",), answers=[_resolver_answer("dns.ok", ["158.176.9.9"])]),
        (_target(None, "proxy",
                 _phase("tcp", "tcp.ok", 1.1, "Connected to proxy.corp.example:3128.",
                        ip="192.0.2.10", port=3128),
                 _phase("proxy", "proxy.denied", 2.4,
                        "CONNECT api-eu.moviuscorp.com:8021 answered 403 Forbidden.",
                        proxy=PROXY, status=403, reason="Forbidden", server="squid/5.7"),
                 skipped("tls"), skipped("https")),),
        (_finding("proxy.denied", ep, None,
                  "CONNECT api-eu.moviuscorp.com:8021 answered 403 Forbidden.",
                  proxy=PROXY, status=403),),
        "fail", tags=("https", "proxy"), purpose="Admin API (EU)"))

    # 11. Through the proxy: local DNS times out, the tunnel works -> info.
    ep = ("login-microsoft", "login.microsoftonline.com", 443)
    eps.append(_endpoint(
        ep, "https",
        _dns("dns.timeout", 5001.0, f"No answer from {RESOLVER} within 5.0 s.",
             answers=[_resolver_answer("dns.timeout", [])]),
        (_target(None, "proxy",
                 _phase("tcp", "tcp.ok", 1.0, "Connected to proxy.corp.example:3128.",
                        ip="192.0.2.10", port=3128),
                 _phase("proxy", "proxy.ok", 30.2, "CONNECT answered 200.",
                        proxy=PROXY, status=200),
                 _phase("tls", "tls.ok", 70.3, "TLSv1.3 handshake verified.",
                        **_tls_data("login.microsoftonline.com",
                                    "CN=Microsoft Azure RSA TLS Issuing CA 04,O=Microsoft "
                                    "Corporation,C=US", sha256="c3" * 32)),
                 _phase("https", "http.ok", 88.8, "GET / answered 302.",
                        status=302, server="")),),
        (_finding("dns.timeout", ep, None, f"No answer from {RESOLVER} within 5.0 s.",
                  severity="info", resolver=RESOLVER),),
        "pass", tags=("https", "identity", "proxy"),
        purpose="Microsoft identity (tenant admin consent)", required=False))

    # 12. Not required; its certificate expires soon.
    ep = ("workspace", "workspace.moviuscorp.net", 443)
    eps.append(_endpoint(
        ep, "https",
        _dns("dns.ok", 2.6, "Resolved to 104.18.30.7.", addresses=("104.18.30.7",),
             answers=[_resolver_answer("dns.ok", ["104.18.30.7"])]),
        (_target("104.18.30.7", "resolved",
                 _phase("tcp", "tcp.ok", 16.0, "Connected to 104.18.30.7:443.",
                        ip="104.18.30.7", port=443),
                 _phase("tls", "tls.expiring_soon", 40.0,
                        "The certificate expires on 2026-12-13 (in 9 days).",
                        **_tls_data("workspace.moviuscorp.net", DIGICERT,
                                    not_after="2026-12-13T12:00:00Z", sha256="d4" * 32,
                                    days_left=9, problems=["expiring_soon"])),
                 _phase("https", "http.ok", 55.5, "GET / answered 200.",
                        status=200, server="cloudflare")),),
        (_finding("tls.expiring_soon", ep, "104.18.30.7",
                  "The certificate expires on 2026-12-13 (in 9 days).", days=9),),
        "warn", tags=("https", "workspace"), purpose="Workspace portal", required=False))

    return tuple(eps)


def sample_report() -> RunReport:
    """A realistic failing run with every kind of problem a firewall team meets."""
    endpoints = sample_endpoints()
    return _report(
        endpoints,
        HostInfo(hostname="ws-0421.corp.example", platform="Linux-6.8.0-x86_64-with-glibc2.39",
                 python="3.12.3", resolvers=(RESOLVER,), proxy=PROXY),
        CatalogInfo(source="endpoints.yaml (built-in)",
                    sha256="3b5d5c3712955042212316173ccf37be800000000000000000000000000000ab",
                    endpoints=len(endpoints)),
    )


# -- the hostile report ----------------------------------------------------------


def _hostile(prefix: str) -> str:
    """One string carrying every trick, labelled so a test can find it."""
    return (f"{prefix} {HOSTILE_HTML} {HOSTILE_MARKUP} {HOSTILE_ANSI}red{HOSTILE_OSC} "
            f"{HOSTILE_CONTROL} {HOSTILE_CSV}")


def hostile_report() -> RunReport:
    """Every network-derived string is an attack on the renderer."""
    long_host = HOSTILE_LONG
    evil_issuer = f"{HOSTILE_FORMULA} CN=[bold red]x[/] {HOSTILE_HTML}{HOSTILE_ANSI}{HOSTILE_OSC}"
    dns_detail = _hostile("dns")
    tls_detail = _hostile("tls")
    server = f"-evil {HOSTILE_MARKUP}{HOSTILE_ANSI}\x00"

    ep1 = ("evil-tls", long_host, 443)
    ep2 = ("evil-http", "evil\x1b[2Jhost.example", 8021)
    ep3 = ("evil-proxy", "evil-proxy.example", 8021)
    endpoints = (
        _endpoint(
            ep1, "wss",
            _dns("dns.unexpected_ip", 1.0, dns_detail, addresses=("203.0.113.9",),
                 expected=("198.51.100.1",),
                 answers=[_resolver_answer("dns.unexpected_ip", ["203.0.113.9"],
                                           resolver=f"@{HOSTILE_ANSI}10.9.9.9")]),
            (_target("203.0.113.9", "resolved",
                     _phase("tcp", "tcp.ok", 1.0, f"ok {HOSTILE_OSC}", ip="203.0.113.9",
                            port=443),
                     _phase("tls", "tls.intercepted", 2.0, tls_detail,
                            **_tls_data(long_host, evil_issuer)),
                     skipped("websocket")),
             _target("198.51.100.1", "expected",
                     _phase("tcp", "tcp.timeout", 3.0, _hostile("tcp"), ip="198.51.100.1",
                            port=443),
                     skipped("tls"), skipped("websocket"))),
            (_finding("dns.unexpected_ip", ep1, None, dns_detail, unexpected="203.0.113.9",
                      resolver=f"@{HOSTILE_ANSI}10.9.9.9"),
             _finding("dns.missing_expected", ep1, None, "", missing="198.51.100.1"),
             _finding("tls.intercepted", ep1, "203.0.113.9", tls_detail, issuer=evil_issuer),
             _finding("tcp.timeout", ep1, "198.51.100.1", _hostile("tcp"))),
            "fail", tags=("websocket", HOSTILE_MARKUP), purpose=_hostile("purpose")),
        _endpoint(
            ep2, "https",
            _dns("dns.servfail", 1.0, _hostile("servfail"), expected=("198.51.100.2",),
                 answers=[_resolver_answer("dns.servfail", [], resolver="+10.8.8.8")]),
            (_target("198.51.100.2", "expected",
                     _phase("tcp", "tcp.ok", 1.0, "ok", ip="198.51.100.2", port=8021),
                     _phase("tls", "tls.ok", 1.0, "ok", **_tls_data("evil", "CN=ok")),
                     _phase("https", "http.unexpected_status", 1.0, _hostile("http"),
                            status=418, server=server, expected=[200])),),
            (_finding("dns.servfail", ep2, None, _hostile("servfail"), resolver="+10.8.8.8"),
             _finding("http.unexpected_status", ep2, "198.51.100.2", _hostile("http"),
                      status=418, server=f", Server: {server}", expected="200")),
            "fail", tags=("https",), purpose=HOSTILE_FORMULA),
        _endpoint(
            ep3, "https",
            _dns("dns.ok", 1.0, "ok", addresses=("198.51.100.3",), expected=("198.51.100.3",),
                 answers=[_resolver_answer("dns.ok", ["198.51.100.3"])]),
            (_target(None, "proxy",
                     _phase("tcp", "tcp.ok", 1.0, "ok", ip="192.0.2.1", port=3128),
                     _phase("proxy", "proxy.denied", 1.0, _hostile("proxy"),
                            proxy=f"http://{HOSTILE_MARKUP}:3128", status=403, server=server),
                     skipped("tls"), skipped("https")),),
            (_finding("proxy.denied", ep3, None, _hostile("proxy"),
                      proxy=f"http://{HOSTILE_MARKUP}:3128", status=403),),
            "fail", tags=("https",), purpose=f"{HOSTILE_CSV}"),
    )
    return _report(
        endpoints,
        HostInfo(hostname=f"host{HOSTILE_OSC}{HOSTILE_HTML}", platform=_hostile("platform"),
                 python="3.12", resolvers=(f"@{HOSTILE_ANSI}10.9.9.9",),
                 proxy=f"http://{HOSTILE_MARKUP}:3128"),
        CatalogInfo(source=_hostile("catalog"), sha256="0" * 64, endpoints=len(endpoints)),
    )
