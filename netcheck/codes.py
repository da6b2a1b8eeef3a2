"""Every result code netcheck can produce, in one table.

This is the single place to edit wording. A code has:

* ``status``   -- the phase status it gives (``pass|warn|fail|skip``);
* ``severity`` -- the severity of the finding it yields (``info|warn|fail``),
  or ``None`` when it yields no finding at all (``tcp.ok``);
* ``meaning``  -- one line for a human: what happened, in network terms;
* ``action``   -- a template naming the change that fixes it. Placeholders are
  filled by :mod:`netcheck.diagnosis` from the phase's facts: ``{host}``
  ``{port}`` ``{ip}`` ``{target}`` (IP, or host through a proxy) ``{issuer}``
  ``{status}`` ``{proxy}`` ``{resolver}`` ``{addresses}`` ``{expected}``
  ``{unexpected}`` ``{missing}`` ``{version}`` ``{min_version}`` ``{days}``
  ``{server}`` ``{filter}`` (a recognised proxy/filter product) ``{hint}`` (a
  sentence with a leading space, or empty).

Codes are a contract (DESIGN.md): new ones may be added under the same phase
prefixes; none is renamed or removed.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Status = Literal["pass", "warn", "fail", "skip"]
Severity = Literal["info", "warn", "fail"]

STATUS_ORDER: Mapping[str, int] = {"pass": 0, "skip": 1, "warn": 2, "fail": 3}
"""Worst-of ordering: a skipped phase does not hide a warning or a failure."""


@dataclass(frozen=True, slots=True)
class Code:
    code: str
    status: Status
    severity: Severity | None
    meaning: str
    action: str
    # What a firewall log would call the outcome, for the change request's
    # "seen" column (``{unexpected}`` may be filled); "" where it has no row.
    seen: str = ""

    @property
    def phase(self) -> str:
        return self.code.split(".", 1)[0]


def _c(code: str, status: Status, severity: Severity | None, meaning: str, action: str,
       seen: str = "") -> Code:
    return Code(code, status, severity, meaning, action, seen)


_TABLE: tuple[Code, ...] = (
    # -- generic -----------------------------------------------------------
    _c("skipped", "skip", None,
       "Not run because an earlier phase failed.", ""),
    # -- dns ---------------------------------------------------------------
    _c("dns.ok", "pass", None,
       "DNS answered with published addresses only.", ""),
    _c("dns.unexpected_ip", "warn", "warn",
       "DNS returned an address that is not in the vendor's published list; "
       "an IP-based allow rule will not cover it.",
       "Either allow outbound TCP {port} to {unexpected} as well (seen for {host}), "
       "or allow {host}:{port} by hostname (FQDN rule / proxy allow-list); "
       "if the answer is wrong, fix the record on {resolver}.",
       seen="answered {unexpected} (not published)"),
    _c("dns.missing_expected", "pass", "info",
       "A published address was not in this DNS answer; it is still probed, "
       "because DNS may hand it out tomorrow.",
       "No change needed; keep {missing} allowed for {host}:{port}."),
    _c("dns.nxdomain", "fail", "fail",
       "The resolver says the name does not exist (NXDOMAIN).",
       "Fix DNS for {host} on {resolver}: it answers NXDOMAIN. Check split-horizon "
       "zones, DNS filtering or a conditional forwarder that shadows the vendor's domain.",
       seen="NXDOMAIN"),
    _c("dns.no_answer", "fail", "fail",
       "The name exists but has no A or AAAA record.",
       "Fix DNS for {host} on {resolver}: the name exists but has no address record.",
       seen="no A/AAAA record"),
    _c("dns.servfail", "fail", "fail",
       "The resolver failed to resolve the name (SERVFAIL or REFUSED).",
       "Fix the resolver {resolver}: it answers SERVFAIL/REFUSED for {host} "
       "(broken forwarder, DNSSEC failure or a filtering policy).",
       seen="SERVFAIL/REFUSED"),
    _c("dns.timeout", "fail", "fail",
       "No DNS answer within the timeout.",
       "Allow DNS (UDP and TCP 53) from this host to {resolver}, or check that "
       "the resolver is up; {host} could not be resolved.",
       seen="no answer (timeout)"),
    _c("dns.error", "fail", "fail",
       "DNS resolution failed for another reason.",
       "Check the resolver configuration for {host} on {resolver}.",
       seen="resolution failed"),
    _c("dns.hosts_override", "warn", "warn",
       "This machine's /etc/hosts gives the host other addresses than DNS does; "
       "the product's apps resolve through the OS (getaddrinfo), so they use the file.",
       "Remove or correct the /etc/hosts entry for {host} on this machine, which the "
       "product's apps use instead of DNS ({resolver}); if the override is deliberate, "
       "allow outbound TCP {port} to the addresses it names as well."),
    _c("dns.resolver_mismatch", "warn", "warn",
       "The resolvers asked disagree on the host's addresses (split-horizon DNS or a "
       "filtering resolver).",
       "Make the resolvers agree on {host} ({resolver}), or allow outbound TCP {port} "
       "to every address any of them returns: machines using a different resolver "
       "reach a different address."),
    # -- tcp ---------------------------------------------------------------
    _c("tcp.ok", "pass", None, "TCP connection opened.", ""),
    _c("tcp.timeout", "fail", "fail",
       "The TCP SYN went unanswered: packets are silently dropped "
       "(a DROP rule or a missing allow rule).",
       "Allow outbound TCP {port} to {ip} ({host})",
       seen="dropped"),
    _c("tcp.refused", "fail", "fail",
       "The connection was refused (RST): a REJECT rule, or nothing listening.",
       "Allow outbound TCP {port} to {ip} ({host}); if a firewall already allows it, "
       "the RST comes from a REJECT rule or the service is down.",
       seen="refused"),
    _c("tcp.unreachable", "fail", "fail",
       "ICMP unreachable or no route to the address.",
       "Add a route or allow rule for outbound TCP {port} to {ip} ({host}): "
       "the network answered 'unreachable'.",
       seen="unreachable"),
    _c("tcp.reset", "fail", "fail",
       "The connection was reset while opening.",
       "Allow outbound TCP {port} to {ip} ({host}); a device on the path resets it.",
       seen="reset"),
    _c("tcp.error", "fail", "fail",
       "The TCP connection failed for another reason.",
       "Check outbound TCP {port} to {ip} ({host}) on this host's firewall.",
       seen="connection failed"),
    _c("tcp.family_unavailable", "skip", None,
       "This host has no route for the address family (e.g. IPv6 on an "
       "IPv4-only host); the target is not counted.", ""),
    # -- proxy -------------------------------------------------------------
    _c("proxy.ok", "pass", None, "The proxy opened the tunnel.", ""),
    _c("proxy.denied", "fail", "fail",
       "The proxy refused to open a tunnel to the host.",
       "Add {host}:{port} to the allow-list of proxy {proxy} (CONNECT answered {status})."
       "{hint}"),
    _c("proxy.auth_required", "fail", "fail",
       "The proxy requires authentication (407).",
       "Give netcheck and the product credentials for proxy {proxy}, or exempt "
       "{host}:{port} from proxy authentication."),
    _c("proxy.upstream_failed", "fail", "fail",
       "The proxy could not reach the host itself (502/503/504).",
       "Allow the proxy {proxy} itself outbound TCP {port} to {host} "
       "(CONNECT answered {status})."),
    _c("proxy.timeout", "fail", "fail",
       "The proxy did not answer the CONNECT request within the timeout.",
       "Check proxy {proxy}: it accepted the connection but never answered "
       "CONNECT {host}:{port}."),
    _c("proxy.error", "fail", "fail",
       "The proxy answered something that is not a valid CONNECT reply.",
       "Check that {proxy} is an HTTP proxy that supports CONNECT to {host}:{port}."),
    # -- tls ---------------------------------------------------------------
    _c("tls.ok", "pass", None, "TLS handshake verified against the public web PKI.", ""),
    _c("tls.intercepted", "fail", "fail",
       "The certificate is not the vendor's: the connection is being "
       "intercepted (TLS inspection).",
       "Add an SSL-inspection bypass for {host} (port {port}): the certificate "
       "presented was issued by {issuer}. Websockets commonly break under inspection."
       "{hint}"),
    _c("tls.untrusted", "fail", "fail",
       "The certificate chain is not trusted.",
       "Find the device on the path to {target}:{port} presenting a certificate "
       "issued by {issuer} for {host}, or add the issuing CA with --ca-bundle if it "
       "is your own lab PKI."),
    _c("tls.hostname_mismatch", "fail", "fail",
       "The certificate does not name the host.",
       "The server at {target}:{port} presents a certificate that does not cover "
       "{host}: check that {target} really is the vendor's address for {host} "
       "(DNS or NAT pointing elsewhere)."),
    _c("tls.expired", "fail", "fail",
       "The certificate has expired.",
       "The certificate for {host} at {target}:{port} expired; report it to the "
       "vendor, or check that a device on the path is not presenting a stale one."),
    _c("tls.not_yet_valid", "fail", "fail",
       "The certificate is not yet valid, or this host's clock is wrong.",
       "Check this host's clock (NTP); if it is right, the certificate for {host} "
       "at {target}:{port} is not valid yet."),
    _c("tls.expiring_soon", "warn", "warn",
       "The certificate expires soon.",
       "The certificate for {host} expires in {days} days; tell the vendor."),
    _c("tls.version", "fail", "fail",
       "The negotiated TLS version is below the endpoint's minimum.",
       "Allow TLS {min_version} or newer to {host}:{port} on the path "
       "(negotiated {version})."),
    _c("tls.reset", "fail", "fail",
       "TCP opened but the connection was cut after the ClientHello: SNI/DPI filtering.",
       "Allow TLS to {host} (SNI) on port {port} in the firewall's application/URL "
       "filter: the connection to {target} is reset after the ClientHello.",
       seen="reset after ClientHello"),
    _c("tls.timeout", "fail", "fail",
       "The TLS handshake did not complete within the timeout.",
       "Check DPI/IPS rules for {host}:{port}: the TLS handshake with {target} stalls."),
    _c("tls.protocol_error", "fail", "fail",
       "The server did not speak TLS (or broke the TLS protocol).",
       "Check what answers on {target}:{port}: it is not a TLS server for {host} "
       "(a captive portal, a plain-HTTP proxy or a wrong NAT rule)."),
    # -- websocket ---------------------------------------------------------
    _c("ws.ok", "pass", None, "Websocket upgrade, ping/pong and close succeeded.", ""),
    _c("ws.rejected", "fail", "fail",
       "The websocket upgrade was refused.",
       "Allow websocket upgrades (Connection: Upgrade) to {host}:{port} on the path "
       "(answered HTTP {status}{server})."),
    _c("ws.no_pong", "fail", "fail",
       "The upgrade succeeded but a ping got no pong: a middlebox eats websocket frames.",
       "Exempt {host}:{port} from websocket/application inspection: frames after "
       "the upgrade are dropped."),
    _c("ws.closed", "fail", "fail",
       "The connection closed during the websocket exchange.",
       "Check idle/connection limits for {host}:{port}: the websocket was closed early."),
    _c("ws.timeout", "fail", "fail",
       "No websocket handshake answer within the timeout.",
       "Check proxies/IPS on the path to {host}:{port}: the upgrade request got no answer."),
    _c("ws.protocol_error", "fail", "fail",
       "The server's answer broke the websocket protocol.",
       "Check what answers on {target}:{port} for {host}: it is not a websocket endpoint."),
    # -- https -------------------------------------------------------------
    _c("http.ok", "pass", None, "HTTPS request answered.", ""),
    _c("http.unexpected_status", "fail", "fail",
       "The HTTPS answer had a status outside the expected list.",
       "Check {host}:{port}: it answered HTTP {status}{server}, expected {expected}."),
    _c("http.proxy_block", "fail", "fail",
       "The answer came from a proxy or filter block page, not the vendor.",
       "Allow {host}:{port} on the web filter ({filter}): it answered with its block "
       "page (HTTP {status}) instead of the vendor's origin."),
    _c("http.timeout", "fail", "fail",
       "No HTTP answer within the timeout.",
       "Check the path to {host}:{port}: the request got no HTTP answer."),
    _c("http.error", "fail", "fail",
       "The HTTP exchange failed (closed connection or invalid answer).",
       "Check what answers on {target}:{port} for {host}: the HTTP exchange failed."),
)

CODES: Mapping[str, Code] = {c.code: c for c in _TABLE}

# Sentences that complete a detail or an action (their ``{hint}``) in one
# situation, filled by the probe or the change request that meets it.
HINTS: Mapping[str, str] = {
    # A proxy's CONNECT refused for a port other than 443.
    "proxy.port_443_only": (
        "Many proxies allow CONNECT only to port 443 by default (squid's SSL_ports "
        "rule, most appliances' HTTPS service): allow CONNECT to port {port} as well "
        "as the host."),
    # A certificate that is not the vendor's, seen inside a proxy tunnel.
    "tls.bypass_on_proxy": (
        "This certificate came through the tunnel of proxy {proxy}: if that proxy "
        "inspects TLS, add the bypass there."),
}


def hint(name: str, **values: Any) -> str:
    return HINTS[name].format(**values)


def get(code: str) -> Code:
    """The table entry for ``code``; an unknown code is a bug, so it raises."""
    return CODES[code]


def status_of(code: str) -> Status:
    return CODES[code].status


def worst(statuses: list[str] | tuple[str, ...]) -> Status:
    """Worst status of several; ``pass`` for none."""
    result: Status = "pass"
    for s in statuses:
        if STATUS_ORDER[s] > STATUS_ORDER[result]:
            result = s  # type: ignore[assignment]
    return result


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


_FORMATTER = string.Formatter()


def render_action(code: str, values: Mapping[str, Any]) -> str:
    """Fill the action template of ``code``; absent values print as ``?``."""
    return _FORMATTER.vformat(CODES[code].action, (), _Blank(values))
