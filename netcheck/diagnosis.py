"""Phase results -> findings, endpoint verdicts and the run summary.

Pure functions: no I/O, no clock. The runner calls :func:`diagnose` (or the
three pieces) once an endpoint's DNS and targets are known; ``changes.py``
reuses :func:`action_values` so a change-request row is worded exactly as the
finding it comes from. All wording comes from :mod:`netcheck.codes`.

Verdict rules (DESIGN.md, contract):

* an endpoint's status is the worst of its DNS result and its targets;
* a target whose address family has no route here (``tcp.family_unavailable``)
  does not count; if no target counts, the endpoint is at best ``skip``;
* a failing local DNS lookup behind a working proxy tunnel counts as ``pass``
  and its finding is ``info``: through a proxy the proxy resolves the name;
* the run fails only when a *required* endpoint failed (exit code 1); a
  failing optional endpoint is counted in ``fail`` but makes the run ``warn``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Mapping
from typing import Any

from netcheck import codes
from netcheck.codes import Severity, Status
from netcheck.model import DnsResult, EndpointResult, Finding, PhaseResult, Summary, TargetResult

NOT_COUNTED = frozenset({"tcp.family_unavailable"})
"""Codes that take a whole target out of the endpoint's verdict."""


# -- verdicts ---------------------------------------------------------------------


def counts(target: TargetResult) -> bool:
    """Whether a target takes part in its endpoint's verdict."""
    return not any(p.code in NOT_COUNTED for p in target.phases)


def target_status(target: TargetResult) -> Status:
    """Worst of the target's phases (its own ``status`` when it has none)."""
    if not target.phases:
        return target.status
    return codes.worst([p.status for p in target.phases])


def proxy_tunnel_ok(targets: Iterable[TargetResult]) -> bool:
    """A proxy tunnel was opened for this endpoint."""
    return any(p.phase == "proxy" and p.status == "pass"
               for t in targets if t.source == "proxy" for p in t.phases)


def dns_masked(dns: DnsResult, targets: Iterable[TargetResult]) -> bool:
    """A local DNS failure that does not matter: the proxy tunnel worked."""
    return dns.status == "fail" and proxy_tunnel_ok(targets)


def endpoint_status(dns: DnsResult, targets: tuple[TargetResult, ...]) -> Status:
    dns_status: Status = "pass" if dns_masked(dns, targets) else dns.status
    counted = [target_status(t) for t in targets if counts(t)]
    if targets and not counted:
        counted = ["skip"]  # nothing could be probed from this host
    return codes.worst([dns_status, *counted])


def summarize(endpoints: Iterable[EndpointResult]) -> Summary:
    """Counts per status and the run's status.

    ``fail`` only when a required endpoint failed (exit 1); ``warn`` when an
    endpoint warned or an optional one failed (exit 0, 1 with ``--strict``);
    ``skip`` when every endpoint was skipped; ``pass`` otherwise.
    """
    eps = tuple(endpoints)
    n = {s: sum(1 for e in eps if e.status == s) for s in ("pass", "warn", "fail", "skip")}
    status: Status
    if any(e.required and e.status == "fail" for e in eps):
        status = "fail"
    elif n["fail"] or n["warn"]:
        status = "warn"
    elif eps and n["skip"] == len(eps):
        status = "skip"
    else:
        status = "pass"
    return Summary(status=status, passed=n["pass"], warned=n["warn"], failed=n["fail"],
                   skipped=n["skip"])


# -- findings ---------------------------------------------------------------------


def _join(values: Iterable[Any]) -> str:
    return ", ".join(str(v) for v in values)


def resolvers_of(dns: DnsResult, code: str | None = None,
                 fallback: tuple[str, ...] = ()) -> str:
    """The resolvers that gave ``code`` (all of them when none matches).

    ``dns.data`` holds ``resolver`` (the DNS phase's own choice, preferred) or
    ``resolvers``: a list of answers, each a mapping with ``resolver`` (or
    ``server``) and ``code``, or a mapping keyed by resolver.
    """
    data = dns.data
    if isinstance(data.get("resolver"), str) and data["resolver"]:
        return str(data["resolver"])  # the DNS phase already named the decisive one
    raw = data.get("resolvers") or ()
    answers: list[tuple[str, Any]] = []
    if isinstance(raw, Mapping):
        answers = [(str(k), v) for k, v in raw.items()]
    else:
        for item in raw:
            if isinstance(item, Mapping):
                answers.append((str(item.get("resolver") or item.get("server") or "?"), item))
            else:
                answers.append((str(item), {}))
    matching = [r for r, a in answers if isinstance(a, Mapping) and a.get("code") == code]
    names = matching or [r for r, _ in answers] or list(fallback)
    return _join(dict.fromkeys(names))


def action_values(*, host: str, port: int, ip: str | None, dns: DnsResult,
                  data: Mapping[str, Any], code: str, proxy: str | None = None,
                  resolvers: tuple[str, ...] = ()) -> dict[str, Any]:
    """The placeholders of codes.py's action templates, from the phase facts.

    Absent facts are left out, so the template prints ``?`` for them rather
    than ``None``.
    """
    values: dict[str, Any] = {
        "host": host, "port": port, "target": ip if ip is not None else host,
        "addresses": _join(dns.addresses), "expected": _join(dns.expected_ips),
        "unexpected": _join(dns.unexpected), "missing": _join(dns.missing),
        "server": "",
        "hint": f" {data['hint']}" if data.get("hint") else "",
    }
    if ip is not None:
        values["ip"] = ip
    resolver = resolvers_of(dns, code if code.startswith("dns.") else dns.code, resolvers)
    if resolver:
        values["resolver"] = resolver
    if data.get("proxy") or proxy:
        values["proxy"] = data.get("proxy") or proxy
    for key in ("issuer", "status", "version", "min_version", "filter"):
        if data.get(key) is not None:
            values[key] = data[key]
    days = data.get("days_left", data.get("days"))
    if days is not None:
        values["days"] = days
    if data.get("server"):
        values["server"] = f", Server: {data['server']}"
    expected = data.get("expected")
    if expected is not None:  # an HTTP phase's expected statuses, not DNS's IPs
        values["expected"] = (_join(expected) if isinstance(expected, list | tuple)
                              else str(expected))
    return values


def make_finding(*, name: str, host: str, port: int, ip: str | None, result: PhaseResult
                 | DnsResult, dns: DnsResult, code: str | None = None,
                 severity: Severity | None = None, proxy: str | None = None,
                 resolvers: tuple[str, ...] = ()) -> Finding | None:
    """One finding for one phase result; ``None`` for a code that yields none."""
    code = code or result.code
    entry = codes.get(code)
    sev = severity or entry.severity
    if sev is None:
        return None
    detail = result.detail if code == result.code else ""
    values = action_values(host=host, port=port, ip=ip, dns=dns, data=result.data, code=code,
                           proxy=proxy, resolvers=resolvers)
    return Finding(code=code, severity=sev, endpoint=name, host=host, ip=ip, port=port,
                   summary=f"{entry.meaning} {detail}".strip(),
                   action=codes.render_action(code, values))


def findings_for(*, name: str, host: str, port: int, dns: DnsResult,
                 targets: tuple[TargetResult, ...], proxy: str | None = None,
                 resolvers: tuple[str, ...] = ()) -> tuple[Finding, ...]:
    """Every finding of one endpoint: DNS first, then each target's phases.

    One finding per phase result whose code has a severity (so ``skipped``,
    ``*.ok`` and ``tcp.family_unavailable`` yield none). ``proxy`` (redacted)
    and ``resolvers`` fill the action when the phase data does not name them.
    """
    finding = functools.partial(make_finding, name=name, host=host, port=port, dns=dns,
                                proxy=proxy, resolvers=resolvers)
    found = [finding(ip=None, result=dns,
                     severity="info" if dns_masked(dns, targets) else None)]
    # A published address missing from a good answer is worth a note even when
    # the DNS probe chose dns.ok / dns.unexpected_ip as its code.
    if dns.missing and dns.addresses and dns.code != "dns.missing_expected":
        found.append(finding(ip=None, result=dns, code="dns.missing_expected"))
    # DNS picks one code by precedence; the others that also held (a resolver
    # mismatch behind an unpublished answer) still each need their fix.
    found += [finding(ip=None, result=dns, code=c) for c in dns.data.get("also", ())
              if c in codes.CODES and c != "dns.missing_expected"]
    for target in targets:
        found.extend(finding(ip=target.ip, result=p) for p in target.phases)
    return tuple(dict.fromkeys(f for f in found if f is not None))


def diagnose(result: EndpointResult, *, proxy: str | None = None,
             resolvers: tuple[str, ...] = ()) -> EndpointResult:
    """``result`` with its status and findings filled in from its DNS and targets."""
    return dataclasses.replace(
        result,
        status=endpoint_status(result.dns, result.targets),
        findings=findings_for(name=result.name, host=result.host, port=result.port,
                              dns=result.dns, targets=result.targets, proxy=proxy,
                              resolvers=resolvers),
    )
