"""The firewall change request: findings folded into what to change.

A run's findings say what is wrong per endpoint and address; a firewall team
wants the opposite view: one row per rule to add, naming every catalogue
entry that needs it and why. :func:`build_change_request` folds the report's
findings into five sections:

* ``allow``       -- allow rules: destination IP (or the FQDN for an endpoint
  without published addresses), port, protocol, hostnames using it, and
  what was seen (dropped / refused / unreachable / reset after ClientHello).
  Endpoints sharing an IP:port share one row.
* ``tls_bypass``  -- hostnames whose certificate was not the vendor's, with
  the issuer seen.
* ``proxy_allow`` -- ``host:port`` entries a proxy denied (or could not reach).
* ``dns_fix``     -- answers outside the published list, NXDOMAIN, SERVFAIL,
  ... with the resolver that said so.
* ``other``       -- every other failing or warning finding (websocket frames
  eaten, certificate expiring, HTTP status ...), so nothing is dropped.

``already_fine`` counts the endpoints that passed. Informational findings
(a published address absent from DNS, a local DNS failure behind a working
proxy) need no change and give no row. Rows are sorted: IP addresses in
numeric order, then names; then by port.

Actions are codes.py's templates filled by :func:`netcheck.diagnosis.action_values`
with the row's values (several hostnames joined), so a row reads like the
findings it comes from.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from netcheck import codes
from netcheck.diagnosis import action_values, resolvers_of
from netcheck.model import DnsResult, EndpointResult, Finding, PhaseResult, RunReport

Section = Literal["allow", "tls_bypass", "proxy_allow", "dns_fix", "other"]

SECTIONS: tuple[Section, ...] = ("allow", "tls_bypass", "proxy_allow", "dns_fix", "other")
SECTION_TITLES: Mapping[Section, str] = {
    "allow": "Allow rules to add",
    "tls_bypass": "TLS inspection to bypass",
    "proxy_allow": "Proxy allow-list entries",
    "dns_fix": "DNS to fix",
    "other": "Other changes",
}

_PROXY_CODES = frozenset({"proxy.denied", "proxy.upstream_failed", "proxy.auth_required"})
_TLS_BYPASS_CODES = frozenset({"tls.intercepted"})

_ALLOW_CODES = frozenset({"tcp.timeout", "tcp.refused", "tcp.unreachable", "tcp.reset",
                          "tcp.error", "tls.reset"})
_DNS_CODES = frozenset({"dns.unexpected_ip", "dns.nxdomain", "dns.no_answer", "dns.servfail",
                        "dns.timeout", "dns.error"})

@dataclass(frozen=True, slots=True)
class ChangeRow:
    section: Section
    destination: str  # an IP, an FQDN (no fixed IPs), a host:port, or a hostname
    port: int | None
    protocol: str  # "tcp" for allow rules; "" where it means nothing
    hostnames: tuple[str, ...]
    endpoints: tuple[str, ...]  # catalogue entries that need it
    purposes: tuple[str, ...]  # their `purpose`
    seen: str  # what was observed: "dropped", "refused", "issuer: ...", "NXDOMAIN from 10.0.0.2"
    codes: tuple[str, ...]
    action: str  # wording from codes.py, values filled in

    def to_dict(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "destination": self.destination,
            "port": self.port,
            "protocol": self.protocol,
            "hostnames": list(self.hostnames),
            "endpoints": list(self.endpoints),
            "purposes": list(self.purposes),
            "seen": self.seen,
            "codes": list(self.codes),
            "action": self.action,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ChangeRow:
        return cls(
            section=d["section"],
            destination=d["destination"],
            port=None if d.get("port") is None else int(d["port"]),
            protocol=d.get("protocol", ""),
            hostnames=tuple(d.get("hostnames", ())),
            endpoints=tuple(d.get("endpoints", ())),
            purposes=tuple(d.get("purposes", ())),
            seen=d.get("seen", ""),
            codes=tuple(d.get("codes", ())),
            action=d.get("action", ""),
        )


@dataclass(frozen=True, slots=True)
class ChangeRequest:
    allow: tuple[ChangeRow, ...]
    tls_bypass: tuple[ChangeRow, ...]
    proxy_allow: tuple[ChangeRow, ...]
    dns_fix: tuple[ChangeRow, ...]
    already_fine: int  # endpoints that passed
    other: tuple[ChangeRow, ...] = ()
    fine_endpoints: tuple[str, ...] = field(default=())  # their names, catalogue order

    def section(self, name: Section) -> tuple[ChangeRow, ...]:
        rows: tuple[ChangeRow, ...] = getattr(self, name)
        return rows

    @property
    def rows(self) -> tuple[ChangeRow, ...]:
        """Every row, section by section."""
        return tuple(r for s in SECTIONS for r in self.section(s))

    @property
    def empty(self) -> bool:
        return not self.rows

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {s: [r.to_dict() for r in self.section(s)] for s in SECTIONS}
        d["already_fine"] = self.already_fine
        d["fine_endpoints"] = list(self.fine_endpoints)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ChangeRequest:
        def rows(name: str) -> tuple[ChangeRow, ...]:
            return tuple(ChangeRow.from_dict(r) for r in d.get(name, ()))

        return cls(allow=rows("allow"), tls_bypass=rows("tls_bypass"),
                   proxy_allow=rows("proxy_allow"), dns_fix=rows("dns_fix"),
                   other=rows("other"), already_fine=int(d.get("already_fine", 0)),
                   fine_endpoints=tuple(d.get("fine_endpoints", ())))


# -- folding ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Item:
    """One finding with the facts a row needs."""

    section: Section
    key: tuple[str, int | None]  # (destination, port): rows group on it
    protocol: str
    finding: Finding
    endpoint: EndpointResult
    data: Mapping[str, Any]
    seen: str
    via: str  # an address, issuer or resolver, shown in parentheses in the action


def _phase_of(ep: EndpointResult, f: Finding) -> PhaseResult | DnsResult | None:
    if f.code.startswith("dns."):
        return ep.dns
    for t in ep.targets:
        if t.ip == f.ip:
            for p in t.phases:
                if p.code == f.code:
                    return p
    return None


def _item(ep: EndpointResult, f: Finding, report: RunReport) -> _Item | None:
    if f.severity == "info":
        return None
    result = _phase_of(ep, f)
    data: Mapping[str, Any] = result.data if result is not None else {}
    if f.code in _ALLOW_CODES:
        if ep.dns.expected_ips or f.ip is None:
            # An IP rule; through a proxy (no IP) the rule is by name.
            dest = f.ip if f.ip is not None else f.host
            return _Item("allow", (dest, f.port), "tcp", f, ep, data, codes.get(f.code).seen,
                         via="")
        # No published addresses (a CDN): an IP rule would break tomorrow.
        return _Item("allow", (f.host, f.port), "tcp", f, ep, data,
                     codes.get(f.code).seen, via=f.ip)
    if f.code in _TLS_BYPASS_CODES:
        issuer = str(data.get("issuer") or "?")
        return _Item("tls_bypass", (f.host, f.port), "", f, ep, data, f"issuer: {issuer}",
                     via=issuer)
    if f.code in _PROXY_CODES:
        proxy = str(data.get("proxy") or report.host.proxy or "?")
        seen = f"CONNECT answered {data.get('status', '?')} at {proxy}"
        if f.code == "proxy.denied":
            # The proxy phase words why a non-443 CONNECT may be a port policy
            # (data["hint"]); a report saved without it gets the same hint.
            hint = data.get("hint") or (codes.hint("proxy.port_443_only", port=f.port)
                                        if f.port != 443 else "")
            if hint:
                seen = f"{seen}. {hint}"
        return _Item("proxy_allow", (f"{f.host}:{f.port}", f.port), "", f, ep, data, seen,
                     via=proxy)
    if f.code in _DNS_CODES:
        resolver = resolvers_of(ep.dns, f.code, report.host.resolvers) or "?"
        what = codes.get(f.code).seen.format(unexpected=", ".join(ep.dns.unexpected) or "?")
        return _Item("dns_fix", (f.host, None), "", f, ep, data, f"{what} from {resolver}",
                     via=resolver)
    return _Item("other", (f.host, f.port), "", f, ep, data, codes.get(f.code).meaning,
                 via="")


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v))


def _action(items: list[_Item], report: RunReport) -> str:
    """Each distinct code's action once, worded for the whole row."""
    first = items[0]
    hostnames = ", ".join(_unique(i.finding.host for i in items))
    actions: list[str] = []
    for code in _unique(i.finding.code for i in items):
        it = next(i for i in items if i.finding.code == code)
        values = action_values(host=it.finding.host, port=it.finding.port, ip=it.finding.ip,
                               dns=it.endpoint.dns, data=it.data, code=code,
                               proxy=report.host.proxy, resolvers=report.host.resolvers)
        values["host"] = hostnames
        if first.section == "allow" and any(i.via for i in items):
            # FQDN rule: the name is the destination, the addresses seen follow it.
            values["ip"] = first.key[0]
            values["host"] = ", ".join(_unique(i.via for i in items))
        actions.append(codes.render_action(code, values))
    return " ".join(_unique(actions))


def _row(items: list[_Item], report: RunReport) -> ChangeRow:
    first = items[0]
    return ChangeRow(
        section=first.section,
        destination=first.key[0],
        port=first.key[1],
        protocol=first.protocol,
        hostnames=_unique(i.finding.host for i in items),
        endpoints=_unique(i.endpoint.name for i in items),
        purposes=_unique(i.endpoint.purpose for i in items),
        seen="; ".join(_unique(i.seen for i in items)),
        codes=_unique(i.finding.code for i in items),
        action=_action(items, report),
    )


def _sort_key(row: ChangeRow) -> tuple[int, int, str, int]:
    try:
        ip = ipaddress.ip_address(row.destination)
    except ValueError:
        return (1, 0, row.destination, row.port or 0)
    return (0, ip.version, f"{int(ip):040d}", row.port or 0)


def build_change_request(report: RunReport) -> ChangeRequest:
    groups: dict[tuple[Section, str, int | None], list[_Item]] = {}
    for ep in report.endpoints:
        for f in ep.findings:
            item = _item(ep, f, report)
            if item is not None:
                groups.setdefault((item.section, *item.key), []).append(item)
    rows = [_row(items, report) for items in groups.values()]

    def section(name: Section) -> tuple[ChangeRow, ...]:
        return tuple(sorted((r for r in rows if r.section == name), key=_sort_key))

    fine = tuple(ep.name for ep in report.endpoints if ep.status == "pass")
    return ChangeRequest(allow=section("allow"), tls_bypass=section("tls_bypass"),
                         proxy_allow=section("proxy_allow"), dns_fix=section("dns_fix"),
                         other=section("other"), already_fine=len(fine), fine_endpoints=fine)
