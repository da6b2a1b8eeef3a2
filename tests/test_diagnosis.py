"""Diagnosis: verdict rules (DESIGN.md, contract) and findings worded from codes.py.

Pure functions over hand-built results; no socket is involved because the
diagnosis never touches one (the probes' own tests produce these codes
through real sockets).
"""

from __future__ import annotations

from typing import Any

from netcheck import codes
from netcheck.diagnosis import endpoint_status, findings_for, summarize
from netcheck.model import (
    DnsResult,
    EndpointResult,
    PhaseResult,
    TargetResult,
    TargetSource,
    skipped,
)

HOST = "sml.moviuscorp.net"


def _p(phase: str, code: str, detail: str = "", **data: Any) -> PhaseResult:
    return PhaseResult(phase=phase, status=codes.status_of(code), code=code, detail=detail,
                       data=data)


def _t(ip: str | None, *phases: PhaseResult, source: TargetSource = "both") -> TargetResult:
    return TargetResult(ip=ip, source=source, status=codes.worst([p.status for p in phases]),
                        phases=phases)


def _dns(code: str, detail: str = "", addresses: tuple[str, ...] = (),
         expected: tuple[str, ...] = (), missing: tuple[str, ...] = (),
         resolver: str = "10.0.0.2") -> DnsResult:
    return DnsResult(status=codes.status_of(code), code=code, detail=detail,
                     data={"resolvers": [{"resolver": resolver, "code": code}]},
                     addresses=addresses, expected_ips=expected, missing=missing)


OK = (_p("tcp", "tcp.ok"), _p("tls", "tls.ok"), _p("https", "http.ok"))


def _find(dns: DnsResult, *targets: TargetResult, port: int = 8021) -> tuple[Any, ...]:
    return findings_for(name="sml", host=HOST, port=port, dns=dns, targets=targets)


def test_missing_expected_is_pass_with_an_info_finding() -> None:
    # Given DNS that answered one of the two published addresses, and both targets pass
    dns = _dns("dns.missing_expected", "169.63.26.228 was not in the answer.",
               addresses=("169.63.160.148",), expected=("169.63.160.148", "169.63.26.228"),
               missing=("169.63.26.228",))
    targets = (_t("169.63.160.148", *OK), _t("169.63.26.228", *OK, source="expected"))
    # When the endpoint is judged
    # Then it passes, with one info finding naming the missing address
    assert endpoint_status(dns, targets) == "pass"
    (f,) = _find(dns, *targets)
    assert (f.code, f.severity, f.ip) == ("dns.missing_expected", "info", None)
    assert f.action == "No change needed; keep 169.63.26.228 allowed for sml.moviuscorp.net:8021."


def test_missing_addresses_beside_dns_ok_still_get_an_info_finding() -> None:
    # Given a DNS probe that chose dns.ok but filled `missing`
    dns = _dns("dns.ok", addresses=("169.63.160.148",),
               expected=("169.63.160.148", "169.63.26.228"), missing=("169.63.26.228",))
    # Then the note is still there, as info
    (f,) = _find(dns, _t("169.63.160.148", *OK))
    assert (f.code, f.severity) == ("dns.missing_expected", "info")


def test_family_unavailable_target_does_not_fail_or_skip_the_endpoint() -> None:
    # Given an IPv4 target that passes and an IPv6 one this host has no route for
    dns = _dns("dns.ok", addresses=("104.18.20.1", "2606:4700::1"))
    v6 = _t("2606:4700::1", _p("tcp", "tcp.family_unavailable", "no IPv6 route"),
            skipped("tls"), skipped("https"), source="resolved")
    targets = (_t("104.18.20.1", *OK, source="resolved"), v6)
    # Then the endpoint passes and the skipped target yields no finding
    assert endpoint_status(dns, targets) == "pass"
    assert _find(dns, *targets) == ()


def test_only_unroutable_targets_make_the_endpoint_skip() -> None:
    dns = _dns("dns.ok", addresses=("2606:4700::1",))
    v6 = _t("2606:4700::1", _p("tcp", "tcp.family_unavailable"), source="resolved")
    assert endpoint_status(dns, (v6,)) == "skip"


def test_local_dns_failure_behind_a_working_proxy_is_info() -> None:
    # Given a proxy tunnel that worked and a local DNS lookup that timed out
    dns = _dns("dns.timeout", "No answer from 10.0.0.2 within 5.0 s.")
    tunnel = _t(None, _p("tcp", "tcp.ok"), _p("proxy", "proxy.ok", status=200),
                _p("tls", "tls.ok"), _p("https", "http.ok"), source="proxy")
    # Then the endpoint passes and the DNS finding is info, naming the resolver
    assert endpoint_status(dns, (tunnel,)) == "pass"
    (f,) = findings_for(name="login", host="login.microsoftonline.com", port=443, dns=dns,
                        targets=(tunnel,), proxy="http://proxy:3128")
    assert (f.code, f.severity) == ("dns.timeout", "info")
    assert "to 10.0.0.2" in f.action


def test_local_dns_failure_behind_a_denied_tunnel_still_fails() -> None:
    # Given a proxy that denied the tunnel and a local NXDOMAIN
    dns = _dns("dns.nxdomain")
    tunnel = _t(None, _p("tcp", "tcp.ok"),
                _p("proxy", "proxy.denied", proxy="http://proxy:3128", status=403),
                skipped("tls"), skipped("https"), source="proxy")
    # Then both count: the endpoint fails, the DNS finding keeps its severity
    assert endpoint_status(dns, (tunnel,)) == "fail"
    fs = _find(dns, tunnel)
    assert [(f.code, f.severity) for f in fs] == [("dns.nxdomain", "fail"),
                                                  ("proxy.denied", "fail")]
    assert fs[1].action == ("Add sml.moviuscorp.net:8021 to the allow-list of proxy "
                            "http://proxy:3128 (CONNECT answered 403).")


def test_status_is_the_worst_of_dns_and_every_target() -> None:
    ok_dns = _dns("dns.ok", addresses=("1.1.1.1",))
    warn_dns = _dns("dns.unexpected_ip", addresses=("9.9.9.9",))
    good = _t("1.1.1.1", *OK)
    expiring = _t("1.1.1.2", _p("tcp", "tcp.ok"), _p("tls", "tls.expiring_soon", days_left=3),
                  _p("https", "http.ok"))
    dropped = _t("1.1.1.3", _p("tcp", "tcp.timeout"), skipped("tls"), skipped("https"),
                 source="expected")
    assert endpoint_status(ok_dns, (good,)) == "pass"
    assert endpoint_status(warn_dns, (good,)) == "warn"
    assert endpoint_status(ok_dns, (good, expiring)) == "warn"
    # A published-only target counts in full: one dropped address fails the endpoint.
    assert endpoint_status(ok_dns, (good, expiring, dropped)) == "fail"
    assert endpoint_status(_dns("dns.servfail"), ()) == "fail"


def test_findings_are_worded_from_codes_with_phase_values() -> None:
    # Given a dropped target, an intercepted one and an HTTP answer with a Server header
    dns = _dns("dns.ok", addresses=("1.1.1.1",))
    t1 = _t("1.1.1.1", _p("tcp", "tcp.timeout", "No answer within 5.0 s."), skipped("tls"))
    t2 = _t("1.1.1.2", _p("tcp", "tcp.ok"),
            _p("tls", "tls.intercepted", "system store only", issuer="CN=Zscaler Root CA"))
    t3 = _t("1.1.1.3", _p("tcp", "tcp.ok"), _p("tls", "tls.ok"),
            _p("https", "http.unexpected_status", "", status=403, server="squid/5.7",
               expected=[200, 302]))
    # When findings are made
    f1, f2, f3 = _find(dns, t1, t2, t3)
    # Then summary = meaning + detail and action = the template with concrete values
    assert f1.summary == codes.get("tcp.timeout").meaning + " No answer within 5.0 s."
    assert f1.action == "Allow outbound TCP 8021 to 1.1.1.1 (sml.moviuscorp.net)"
    assert "issued by CN=Zscaler Root CA" in f2.action and f2.ip == "1.1.1.2"
    assert f3.action == ("Check sml.moviuscorp.net:8021: it answered HTTP 403, "
                         "Server: squid/5.7, expected 200, 302.")


def test_absent_server_header_leaves_no_gap() -> None:
    dns = _dns("dns.ok", addresses=("1.1.1.1",))
    t = _t("1.1.1.1", _p("tcp", "tcp.ok"), _p("tls", "tls.ok"),
           _p("websocket", "ws.rejected", status=403))
    (f,) = _find(dns, t, port=443)
    assert f.action.endswith("(answered HTTP 403).")


def test_identical_findings_are_deduplicated() -> None:
    # Given the same outcome reported twice for the same address
    dns = _dns("dns.ok", addresses=("1.1.1.1",))
    t = _t("1.1.1.1", _p("tcp", "tcp.timeout", "x"))
    assert len(_find(dns, t, t)) == 1


def _ep(name: str, status: str, required: bool = True) -> EndpointResult:
    return EndpointResult(name=name, host=f"{name}.example", port=443, probe="tcp",
                          required=required, tags=(), status=status,  # type: ignore[arg-type]
                          dns=_dns("dns.ok"))


def test_summary_fails_only_for_a_required_endpoint() -> None:
    # A failing optional endpoint is counted but only warns the run (exit 0).
    s = summarize([_ep("a", "pass"), _ep("b", "fail", required=False)])
    assert (s.status, s.passed, s.failed) == ("warn", 1, 1)
    s = summarize([_ep("a", "pass"), _ep("b", "fail")])
    assert s.status == "fail"
    assert summarize([_ep("a", "pass"), _ep("b", "skip")]).status == "pass"
    assert summarize([_ep("a", "skip")]).status == "skip"
    assert summarize([_ep("a", "warn")]).status == "warn"
    assert summarize([]).status == "pass"
