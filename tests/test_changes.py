"""The change request: findings folded into rules, grouped and deduplicated."""

from __future__ import annotations

from typing import Any

from netcheck import codes
from netcheck.changes import ChangeRequest, build_change_request
from netcheck.diagnosis import diagnose, summarize
from netcheck.model import (
    CatalogInfo,
    DnsResult,
    EndpointResult,
    HostInfo,
    PhaseResult,
    RunReport,
    Summary,
    TargetResult,
    TargetSource,
    skipped,
)


def _p(phase: str, code: str, detail: str = "", **data: Any) -> PhaseResult:
    return PhaseResult(phase=phase, status=codes.status_of(code), code=code, detail=detail,
                       data=data)


def _t(ip: str | None, *phases: PhaseResult, source: TargetSource = "both") -> TargetResult:
    return TargetResult(ip=ip, source=source, status=codes.worst([p.status for p in phases]),
                        phases=phases)


def _dns(code: str = "dns.ok", addresses: tuple[str, ...] = (),
         expected: tuple[str, ...] = (), resolver: str = "10.0.0.2") -> DnsResult:
    return DnsResult(status=codes.status_of(code), code=code,
                     data={"resolvers": [{"resolver": resolver, "code": code}]},
                     addresses=addresses, expected_ips=expected,
                     unexpected=tuple(a for a in addresses if expected and a not in expected))


def _ep(name: str, host: str, port: int, dns: DnsResult, *targets: TargetResult,
        purpose: str = "") -> EndpointResult:
    bare = EndpointResult(name=name, host=host, port=port, probe="https", required=True,
                          tags=(), status="skip", dns=dns, targets=targets,
                          purpose=purpose or f"{name} purpose")
    return diagnose(bare)


def _report(*eps: EndpointResult) -> RunReport:
    return RunReport(tool_version="0.1.0", started_at="2026-12-04T10:00:00Z",
                     finished_at="2026-12-04T10:00:01Z", duration_ms=1000.0,
                     interrupted=False, host=HostInfo("h", "Linux", resolvers=("10.0.0.2",),
                                                      proxy="http://proxy:3128"),
                     catalog=CatalogInfo("endpoints.yaml", "0" * 64, len(eps)), options={},
                     summary=summarize(eps) if eps else Summary("pass"), endpoints=eps)


def _dropped(ip: str, source: TargetSource = "both") -> TargetResult:
    return _t(ip, _p("tcp", "tcp.timeout", "no answer"), skipped("tls"), skipped("https"),
              source=source)


def test_two_hosts_sharing_an_ip_port_give_one_row() -> None:
    # Given sml and us both dropped on 169.63.160.148:8021, and sml also on a second IP
    ip = "169.63.160.148"
    sml = _ep("sml", "sml.moviuscorp.net", 8021,
              _dns(addresses=(ip,), expected=(ip, "169.63.26.228")),
              _dropped(ip), _dropped("169.63.26.228", "expected"), purpose="Messaging API")
    us = _ep("us", "us.moviuscorp.net", 8021, _dns(addresses=(ip,), expected=(ip,)),
             _dropped(ip), purpose="Provisioning API")
    # When the change request is built
    cr = build_change_request(_report(sml, us))
    # Then one row lists both hostnames, endpoints and purposes; rows sort by IP value
    assert [r.destination for r in cr.allow] == ["169.63.26.228", ip]
    row = cr.allow[1]
    assert (row.port, row.protocol, row.seen, row.codes) == (8021, "tcp", "dropped",
                                                             ("tcp.timeout",))
    assert row.hostnames == ("sml.moviuscorp.net", "us.moviuscorp.net")
    assert row.endpoints == ("sml", "us")
    assert row.purposes == ("Messaging API", "Provisioning API")
    assert row.action == ("Allow outbound TCP 8021 to 169.63.160.148 "
                          "(sml.moviuscorp.net, us.moviuscorp.net)")


def test_endpoint_without_published_ips_gets_an_fqdn_rule() -> None:
    # Given a CDN host (no expected IPs) dropped on both resolved addresses
    cdn = _ep("cdn", "cdn.moviuscorp.net", 443, _dns(addresses=("104.18.20.1", "104.18.21.1")),
              _dropped("104.18.20.1", "resolved"), _dropped("104.18.21.1", "resolved"))
    # Then one rule names the hostname as the destination, with the addresses seen
    (row,) = build_change_request(_report(cdn)).allow
    assert (row.destination, row.port, row.protocol) == ("cdn.moviuscorp.net", 443, "tcp")
    assert row.action == "Allow outbound TCP 443 to cdn.moviuscorp.net (104.18.20.1, 104.18.21.1)"


def test_seen_words_for_each_firewall_outcome() -> None:
    eps = [
        _ep(f"e{i}", f"e{i}.example", 443, _dns(addresses=(ip,), expected=(ip,)),
            _t(ip, *phases))
        for i, (ip, phases) in enumerate([
            ("10.0.0.11", (_p("tcp", "tcp.refused"),)),
            ("10.0.0.12", (_p("tcp", "tcp.unreachable"),)),
            ("10.0.0.13", (_p("tcp", "tcp.ok"), _p("tls", "tls.reset"))),
        ])
    ]
    seen = [r.seen for r in build_change_request(_report(*eps)).allow]
    assert seen == ["refused", "unreachable", "reset after ClientHello"]


def test_tls_bypass_row_names_the_issuer() -> None:
    issuer = "CN=Zscaler Intermediate Root CA,O=Zscaler Inc."
    ep = _ep("ca", "webclient-ca.moviuscorp.net", 443,
             _dns(addresses=("169.55.3.3",), expected=("169.55.3.3",)),
             _t("169.55.3.3", _p("tcp", "tcp.ok"),
                _p("tls", "tls.intercepted", "system store only", issuer=issuer)))
    (row,) = build_change_request(_report(ep)).tls_bypass
    assert (row.destination, row.port) == ("webclient-ca.moviuscorp.net", 443)
    assert row.seen == f"issuer: {issuer}"
    assert issuer in row.action


def test_dns_row_names_the_resolver_that_said_so() -> None:
    # Given NXDOMAIN from one resolver and an unpublished answer for another host
    nx = _ep("eu", "msg-eu.moviuscorp.net", 8021, _dns("dns.nxdomain", resolver="10.1.1.1"))
    odd = _ep("us1", "webclient-us1.moviuscorp.net", 443,
              _dns("dns.unexpected_ip", addresses=("52.4.7.9",), expected=("169.47.120.30",)),
              _t("52.4.7.9", _p("tcp", "tcp.ok"), _p("tls", "tls.ok"), _p("https", "http.ok"),
                 source="resolved"),
              _t("169.47.120.30", _p("tcp", "tcp.ok"), _p("tls", "tls.ok"),
                 _p("https", "http.ok"), source="expected"))
    rows = build_change_request(_report(nx, odd)).dns_fix
    assert [(r.destination, r.seen) for r in rows] == [
        ("msg-eu.moviuscorp.net", "NXDOMAIN from 10.1.1.1"),
        ("webclient-us1.moviuscorp.net", "answered 52.4.7.9 (not published) from 10.0.0.2"),
    ]
    assert "on 10.1.1.1" in rows[0].action


def test_proxy_denied_on_a_non_443_port_mentions_connect_443_only() -> None:
    ep = _ep("api", "api-eu.moviuscorp.com", 8021, _dns(addresses=("1.2.3.4",)),
             _t(None, _p("tcp", "tcp.ok"),
                _p("proxy", "proxy.denied", proxy="http://proxy:3128", status=403),
                skipped("tls"), skipped("https"), source="proxy"))
    (row,) = build_change_request(_report(ep)).proxy_allow
    assert row.destination == "api-eu.moviuscorp.com:8021"
    assert "CONNECT answered 403 at http://proxy:3128" in row.seen
    assert "allow CONNECT only to port 443" in row.seen


def test_proxy_phase_hint_is_used_when_present() -> None:
    # Given the proxy phase's own hint in its data (what a live run records)
    hint = "Many proxies allow CONNECT only to port 443 by default."
    ep = _ep("api", "api-eu.moviuscorp.com", 8021, _dns(addresses=("1.2.3.4",)),
             _t(None, _p("tcp", "tcp.ok"),
                _p("proxy", "proxy.denied", proxy="http://proxy:3128", status=403, hint=hint),
                skipped("tls"), skipped("https"), source="proxy"))
    (row,) = build_change_request(_report(ep)).proxy_allow
    assert row.seen == f"CONNECT answered 403 at http://proxy:3128. {hint}"


def test_info_findings_need_no_change_and_passing_endpoints_are_counted() -> None:
    # Given a passing endpoint with an info finding (local DNS down behind a good proxy)
    ep = _ep("login", "login.microsoftonline.com", 443, _dns("dns.timeout"),
             _t(None, _p("tcp", "tcp.ok"), _p("proxy", "proxy.ok"), _p("tls", "tls.ok"),
                _p("https", "http.ok"), source="proxy"))
    cr = build_change_request(_report(ep))
    # Then nothing is to change and the endpoint counts as already fine
    assert cr.empty and cr.already_fine == 1 and cr.fine_endpoints == ("login",)


def test_other_failures_are_kept_in_other() -> None:
    ep = _ep("push", "push.moviuscorp.net", 443, _dns(addresses=("1.2.3.4",)),
             _t("1.2.3.4", _p("tcp", "tcp.ok"), _p("tls", "tls.ok"),
                _p("websocket", "ws.no_pong")))
    (row,) = build_change_request(_report(ep)).other
    assert row.codes == ("ws.no_pong",) and row.destination == "push.moviuscorp.net"


def test_change_request_round_trips_through_its_dict() -> None:
    ep = _ep("sml", "sml.moviuscorp.net", 8021, _dns(addresses=("1.2.3.4",),
                                                      expected=("1.2.3.4",)),
             _dropped("1.2.3.4"))
    cr = build_change_request(_report(ep))
    d = cr.to_dict()
    assert d["allow"][0]["hostnames"] == ["sml.moviuscorp.net"]
    assert set(d) >= {"allow", "tls_bypass", "proxy_allow", "dns_fix", "already_fine"}
    assert ChangeRequest.from_dict(d) == cr
