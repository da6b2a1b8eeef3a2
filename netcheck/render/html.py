"""One self-contained HTML page a firewall engineer can forward or attach to a ticket.

No external assets and no script: the CSS is inline, and a Content-Security-
Policy forbids scripts outright, so the file opens the same offline, in a mail
client's preview or behind a strict proxy, and a string that slipped past
escaping still could not run.

Everything from the network (or from a saved report someone handed us) is
untrusted. Jinja2's autoescape escapes every value, and the environment's
``finalize`` hook passes every printed string through
:func:`netcheck.sanitize.clean_block` first, so no template line can forget
either. The page is built from a plain view model (:func:`view`) so the
layout logic is testable without a browser.

Sections, in the order a reader needs them: summary counters and context,
the change request (one copy-friendly ``<code>`` rule per row), a timing
waterfall per target (DNS, TCP, proxy, TLS, application phases as coloured
segments on one time axis, scaled to the slowest target), certificate
details, and the raw findings. All wording comes from codes.py, through the
findings and the change request.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jinja2

from netcheck import sanitize
from netcheck.changes import SECTION_TITLES, SECTIONS, ChangeRow, build_change_request
from netcheck.diagnosis import dns_masked
from netcheck.diff import describe_toned
from netcheck.model import EndpointResult, PhaseResult, RunReport, TargetResult

TEMPLATE = "report.html.j2"
# Segment colour per phase; both application phases share one.
SEGMENT_KIND: Mapping[str, str] = {
    "dns": "dns", "tcp": "tcp", "proxy": "proxy", "tls": "tls",
    "websocket": "app", "https": "app",
}
LEGEND: tuple[tuple[str, str], ...] = (
    ("dns", "DNS"), ("tcp", "TCP"), ("proxy", "Proxy CONNECT"), ("tls", "TLS"),
    ("app", "Websocket / HTTPS"),
)
CERT_FIELDS: tuple[tuple[str, str], ...] = (
    ("subject", "Subject"), ("issuer", "Issuer"), ("san", "SAN"), ("not_after", "Not after"),
    ("version", "TLS"), ("cipher", "Cipher"), ("sha256", "SHA-256"),
)


@dataclass(frozen=True, slots=True)
class Segment:
    kind: str  # css class: dns tcp proxy tls app
    phase: str
    code: str
    status: str
    duration_ms: float
    width: str  # percentage of the slowest target's total, for style="width: ..."


@dataclass(frozen=True, slots=True)
class WaterfallRow:
    endpoint: str
    target: str
    status: str
    code: str
    total_ms: float
    segments: tuple[Segment, ...]


@dataclass(frozen=True, slots=True)
class RuleRow:
    rule: str  # the copy-friendly rule: "169.63.160.148 tcp/8021", "host:443"
    row: ChangeRow
    needed_by: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Section:
    name: str
    title: str
    rows: tuple[RuleRow, ...]


@dataclass(frozen=True, slots=True)
class CertRow:
    endpoint: str
    target: str
    code: str
    status: str
    fields: tuple[tuple[str, str], ...]


def target_label(endpoint: EndpointResult, target: TargetResult) -> str:
    return target.ip if target.ip is not None else f"{endpoint.host} via proxy"


def deciding_code(target: TargetResult) -> str:
    """The code that gave the target its status: its first failure, else its
    first warning, else the last phase that ran."""
    for wanted in ("fail", "warn"):
        for p in target.phases:
            if p.status == wanted:
                return p.code
    ran = [p for p in target.phases if p.status != "skip"]
    return (ran or list(target.phases) or [PhaseResult("tcp", "skip", "skipped")])[-1].code


def _width(ms: float, scale_ms: float) -> str:
    return f"{100 * ms / scale_ms:.3f}%" if scale_ms > 0 else "0%"


def waterfall(report: RunReport) -> tuple[WaterfallRow, ...]:
    """One row per target: its endpoint's DNS time, then each phase that ran."""
    raw: list[tuple[EndpointResult, TargetResult | None, list[Segment]]] = []
    for ep in report.endpoints:
        d = ep.dns
        # A local DNS failure behind a working proxy tunnel does not count
        # (DESIGN, verdict rules): it is drawn faded, not as a failure.
        dns = Segment("dns", "dns", d.code, "info" if dns_masked(d, ep.targets) else d.status,
                      d.duration_ms, "")
        if not ep.targets:
            raw.append((ep, None, [dns]))
        for t in ep.targets:
            ran = [Segment(SEGMENT_KIND.get(p.phase, "app"), p.phase, p.code, p.status,
                           p.duration_ms, "") for p in t.phases if p.status != "skip"]
            raw.append((ep, t, [dns, *ran]))
    scale = max((sum(s.duration_ms for s in segs) for _, _, segs in raw), default=0.0)
    rows = []
    for ep, target, segs in raw:
        segments = tuple(dataclasses.replace(s, width=_width(s.duration_ms, scale))
                         for s in segs)
        rows.append(WaterfallRow(
            endpoint=ep.name,
            target=target_label(ep, target) if target is not None else "(no address)",
            status=target.status if target is not None else ep.dns.status,
            code=deciding_code(target) if target is not None else ep.dns.code,
            total_ms=sum(s.duration_ms for s in segments), segments=segments))
    return tuple(rows)


def rule_of(row: ChangeRow) -> str:
    """The row as one line to paste into a rule or a ticket (values only, no wording)."""
    if row.section == "allow":
        proto = row.protocol or "tcp"
        return f"{row.destination} {proto}/{row.port}" if row.port else row.destination
    if row.port is not None and not row.destination.endswith(f":{row.port}"):
        return f"{row.destination}:{row.port}"
    return row.destination


def needed_by(row: ChangeRow) -> tuple[str, ...]:
    """``endpoint (purpose)`` per catalogue entry that needs the row."""
    if len(row.purposes) != len(row.endpoints):
        return (*row.endpoints, *row.purposes)
    return tuple(f"{e} ({p})" if p else e for e, p in zip(row.endpoints, row.purposes,
                                                            strict=True))


def certificates(report: RunReport) -> tuple[CertRow, ...]:
    rows = []
    for ep in report.endpoints:
        for t in ep.targets:
            for p in t.phases:
                if p.phase != "tls" or not any(k in p.data for k, _ in CERT_FIELDS):
                    continue
                fields = []
                for key, title in CERT_FIELDS:
                    value = p.data.get(key)
                    if isinstance(value, list | tuple):
                        value = ", ".join(map(str, value))
                    fields.append((title, "" if value is None else str(value)))
                rows.append(CertRow(ep.name, target_label(ep, t), p.code, p.status,
                                    tuple(fields)))
    return tuple(rows)


def view(report: RunReport) -> dict[str, Any]:
    """Everything the template shows, computed here rather than in Jinja."""
    cr = build_change_request(report)
    sections = tuple(
        Section(name, SECTION_TITLES[name],
                tuple(RuleRow(rule_of(r), r, needed_by(r)) for r in cr.section(name)))
        for name in SECTIONS if cr.section(name))
    by_severity = {s: sum(1 for f in report.findings if f.severity == s)
                   for s in ("fail", "warn", "info")}
    options = ", ".join(f"{k}={v}" for k, v in report.options.items())
    context = (
        ("Host", report.host.hostname),
        ("Platform", report.host.platform),
        ("Python", report.host.python),
        ("Resolvers", ", ".join(report.host.resolvers) or "system default"),
        ("Proxy", report.host.proxy or "none"),
        ("Catalogue", f"{report.catalog.source} ({report.catalog.endpoints} endpoints)"),
        ("Catalogue SHA-256", report.catalog.sha256),
        ("Started", report.started_at),
        ("Finished", report.finished_at),
        ("Options", options),
        ("netcheck", report.tool_version),
    )
    rows = waterfall(report)
    since = (tuple(describe_toned(report.since_last_run))
             if report.since_last_run is not None else None)
    return {
        "since_last_run": since,
        "report": report,
        "summary": report.summary,
        "duration": _duration(report.duration_ms),
        "context": context,
        "findings_by_severity": by_severity,
        "change_request": cr,
        "sections": sections,
        "waterfall": rows,
        "scale": _duration(max((r.total_ms for r in rows), default=0.0)),
        "legend": LEGEND,
        "certificates": certificates(report),
        "cert_titles": tuple(title for _, title in CERT_FIELDS),
        "findings": report.findings,
    }


def _duration(ms: float) -> str:
    return f"{ms / 1000:.2f} s" if ms >= 1000 else f"{ms:.1f} ms"


def _finalize(value: Any) -> Any:
    # Every {{ value }} passes here before autoescape: strip terminal escapes,
    # controls and bidi overrides from text, whatever its source.
    if isinstance(value, str):
        return sanitize.clean_block(value)
    return value


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("netcheck.render", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["duration"] = _duration
    return env


def render(report: RunReport) -> str:
    return environment().get_template(TEMPLATE).render(view(report))
