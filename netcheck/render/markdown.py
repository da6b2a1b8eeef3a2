"""The report as Markdown, ready to paste into a firewall ticket.

Order: the context (where and when it ran, resolvers, proxy, catalogue
checksum), the change request tables, then each endpoint's details. Text
from the network is sanitised (:mod:`netcheck.sanitize`) and then escaped:
characters Markdown gives meaning to are backslash-escaped, ``<``/``>``/``&``
become entities (so no HTML gets through), and pipes are escaped in table
cells, so a hostile issuer cannot break a table or inject a link.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from netcheck import sanitize
from netcheck.changes import (
    SECTION_TITLES,
    SECTIONS,
    ChangeRequest,
    ChangeRow,
    build_change_request,
)
from netcheck.diagnosis import dns_masked
from netcheck.model import EndpointResult, PhaseResult, RunReport

# Inline-significant characters only: text never starts a line here (it always
# follows "| ", "- " or a label), so "#", "+", "-", "." and digits are safe,
# and with "[" "]" escaped no link or image can form.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]|~])")
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
CELL_MAX = 500


def escape(value: object, max_len: int | None = CELL_MAX) -> str:
    """One line of literal text, safe anywhere in Markdown (including table cells)."""
    text = sanitize.clean(value, max_len)
    text = "".join(_ENTITIES.get(ch, ch) for ch in text)
    return _MD_SPECIAL.sub(r"\\\1", text)


def code(value: object) -> str:
    """An inline code span; backticks cannot be escaped inside one, so they go."""
    text = sanitize.clean(value, 120).replace("`", "'").replace("|", "/")
    return f"`{text}`" if text else ""


def _table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> list[str]:
    head = list(header)
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _ms(ms: float) -> str:
    return f"{ms / 1000:.1f} s" if ms >= 1000 else f"{ms:.0f} ms"


# -- sections ---------------------------------------------------------------------------


def _context(report: RunReport) -> list[str]:
    s, host, cat = report.summary, report.host, report.catalog
    title = f"# netcheck: {s.status.upper()}"
    if report.interrupted:
        title += " (interrupted: partial report)"
    rows = [
        ["Result", f"**{s.status.upper()}**: {s.passed} pass, {s.warned} warn, "
                   f"{s.failed} fail, {s.skipped} skip of {len(report.endpoints)} endpoints"],
        ["Ran on", f"{escape(host.hostname)} ({escape(host.platform)})"],
        ["When", f"{escape(report.started_at)} to {escape(report.finished_at)} "
                 f"({_ms(report.duration_ms)})"],
        ["Resolvers", escape(", ".join(host.resolvers) or "system default")],
        ["Proxy", escape(host.proxy or "none")],
        ["Catalogue", f"{escape(cat.source)}, {cat.endpoints} endpoints, "
                      f"sha256 {code(cat.sha256)}"],
        ["netcheck", escape(report.tool_version)],
    ]
    return [title, "", *_table(["", ""], rows)]


def _needed_by(row: ChangeRow) -> str:
    purposes = row.purposes if len(row.purposes) == len(row.endpoints) else ()
    if not purposes:
        return escape(", ".join(row.endpoints))
    return "<br>".join(f"{escape(e)}: {escape(p)}" if p else escape(e)
                       for e, p in zip(row.endpoints, purposes, strict=True))


_COLUMNS: dict[str, tuple[str, ...]] = {
    "allow": ("Destination", "Port", "Protocol", "Hostnames", "Seen", "Needed by", "Action"),
    "tls_bypass": ("Hostname", "Port", "Seen", "Needed by", "Action"),
    "proxy_allow": ("Entry", "Seen", "Needed by", "Action"),
    "dns_fix": ("Hostname", "Seen", "Needed by", "Action"),
    "other": ("Hostname", "Port", "Seen", "Needed by", "Action"),
}


def _cell(row: ChangeRow, column: str) -> str:
    if column in ("Destination", "Hostname", "Entry"):
        return escape(row.destination)
    if column == "Port":
        return "" if row.port is None else str(row.port)
    if column == "Protocol":
        return escape(row.protocol)
    if column == "Hostnames":
        return "<br>".join(escape(h) for h in row.hostnames)
    if column == "Seen":
        return escape(row.seen)
    if column == "Needed by":
        return _needed_by(row)
    return escape(row.action)


def _change_request(cr: ChangeRequest) -> list[str]:
    out = ["## Change request"]
    if cr.empty:
        out += ["", "Nothing to change."]
    for name in SECTIONS:
        rows = cr.section(name)
        if rows:
            out += ["", f"### {SECTION_TITLES[name]}", ""]
            out += _table(_COLUMNS[name], ([_cell(r, c) for c in _COLUMNS[name]] for r in rows))
    fine = ", ".join(escape(n) for n in cr.fine_endpoints)
    out += ["", f"**Already fine:** {cr.already_fine} endpoint"
                f"{'' if cr.already_fine == 1 else 's'}" + (f" ({fine})" if fine else "") + "."]
    return out


def _phase_text(p: PhaseResult | None) -> str:
    if p is None:
        return ""
    if p.code == "skipped":
        return "\u2013"
    return f"{p.status} {code(p.code)}"


def _endpoint(ep: EndpointResult) -> list[str]:
    required = "required" if ep.required else "optional"
    out = ["", f"### {escape(ep.name)}: {ep.status.upper()}", "",
           f"{code(f'{ep.host}:{ep.port}')} ({escape(ep.probe)}, {required})"
           + (f": {escape(ep.purpose)}" if ep.purpose else ""), ""]
    dns = ep.dns
    dns_status = "info" if dns_masked(dns, ep.targets) else dns.status
    out.append(f"- DNS: {dns_status} {code(dns.code)}"
               + (f": {escape(dns.detail)}" if dns.detail else ""))
    for label, values in (("addresses", dns.addresses), ("published", dns.expected_ips),
                          ("unexpected", dns.unexpected), ("missing", dns.missing)):
        if values:
            out.append(f"  - {label}: {escape(', '.join(values))}")
    if ep.targets:
        phases = [n for n in ("tcp", "proxy", "tls", "websocket", "https")
                  if any(p.phase == n for t in ep.targets for p in t.phases)]
        rows = []
        for t in ep.targets:
            by_phase = {p.phase: p for p in t.phases}
            rows.append([escape(t.ip if t.ip is not None else "via proxy"), escape(t.source),
                         *(_phase_text(by_phase.get(n)) for n in phases),
                         _ms(sum(p.duration_ms for p in t.phases))])
        out += ["", *_table(["Target", "Source", *(n.upper() if n != "websocket" else "WS"
                                                   for n in phases), "Time"], rows)]
    if ep.findings:
        out += ["", "Findings:", ""]
        for f in ep.findings:
            where = f" at {escape(f.ip)}" if f.ip else ""
            out.append(f"- **{f.severity}** {code(f.code)}{where}: {escape(f.summary)}  ")
            out.append(f"  Action: {escape(f.action)}")
    return out


def _since_last_run(report: RunReport) -> list[str]:
    if report.since_last_run is None:
        return []
    from netcheck.diff import describe

    changes = describe(report.since_last_run)
    out = ["## Since the last run", ""]
    if not changes:
        return [*out, "Nothing changed since the last run of this catalogue.", ""]
    return [*out, *(f"- {escape(line.strip())}" for line in changes), ""]


def render(report: RunReport) -> str:
    lines = [*_context(report), "", *_since_last_run(report),
             *_change_request(build_change_request(report)), "", "## Endpoints"]
    for ep in report.endpoints:
        lines += _endpoint(ep)
    return "\n".join(lines) + "\n"
