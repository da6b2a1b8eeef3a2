"""The human report: a summary line, a table per target, findings, the change request.

:func:`render` gives plain text (no colour, ASCII borders) for files and pipes;
:func:`print_report` prints the same layout to a rich ``Console``, coloured
when it is a terminal (rich honours ``NO_COLOR``). Nothing from the network
is ever interpreted as markup: every cell is a ``rich.text.Text`` built from
text passed through :mod:`netcheck.sanitize`, and printing uses
``markup=False, highlight=False``.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Iterator

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from netcheck import sanitize
from netcheck.changes import (
    SECTION_TITLES,
    SECTIONS,
    ChangeRequest,
    ChangeRow,
    build_change_request,
)
from netcheck.diagnosis import dns_masked
from netcheck.model import EndpointResult, PhaseResult, RunReport, TargetResult

PLAIN_WIDTH = 132  # the classic wide terminal; the results table fits without folding
# SIMPLE_HEAD drawn in ASCII, for files that may be read in any encoding.
PLAIN_BOX = box.Box("    \n    \n -- \n    \n    \n    \n    \n    \n", ascii=True)
CELL_MAX = 48  # a table cell; the full text is in the findings below
LINE_MAX = 400

STYLES = {
    "pass": "green",
    "warn": "yellow",
    "fail": "bold red",
    "skip": "dim",
    "info": "cyan",
}
APP_PHASES = ("websocket", "https", "app")
_MIN_WIDTH = {"Result": 6, "Port": 5, "Time": 7, "Target IP": 15}
_NO_WRAP = ("Result", "Port", "Time")


def _t(value: object, style: str = "", max_len: int | None = LINE_MAX) -> Text:
    return Text(sanitize.clean(value, max_len), style=style)


def _status(status: str) -> Text:
    return Text(status.upper(), style=STYLES.get(status, ""))


def _ms(ms: float) -> str:
    return f"{ms / 1000:.1f} s" if ms >= 1000 else f"{ms:.0f} ms"


def _short(code: str) -> str:
    """``tcp.timeout`` -> ``timeout``; the phase is the column."""
    return "ok" if code.endswith(".ok") else code.split(".", 1)[-1]


def _phase_cell(phase: PhaseResult | None) -> Text:
    if phase is None:
        return Text("")
    if phase.code == "skipped":
        return Text("-", style=STYLES["skip"])
    return _t(_short(phase.code), STYLES.get(phase.status, ""), CELL_MAX)


def _phase(target: TargetResult, names: Iterable[str]) -> PhaseResult | None:
    wanted = tuple(names)
    return next((p for p in target.phases if p.phase in wanted), None)


# -- sections -------------------------------------------------------------------------


def summary_line(report: RunReport) -> Text:
    """One line: tool, status, counts, duration (what ``-q`` prints)."""
    s = report.summary
    text = Text()
    text.append("netcheck ")
    text.append(sanitize.clean(report.tool_version, 40))
    text.append(": ")
    text.append_text(_status(s.status))
    text.append(f"  {s.passed} pass, {s.warned} warn, {s.failed} fail, {s.skipped} skip"
                f"  ({len(report.endpoints)} endpoints in {_ms(report.duration_ms)})")
    if report.interrupted:
        text.append("  INTERRUPTED: partial report", style=STYLES["warn"])
    return text


def _header(report: RunReport) -> Text:
    text = summary_line(report)
    cat = report.catalog
    text.append(f"\nCatalogue: {sanitize.clean(cat.source, 120)}, {cat.endpoints} endpoints, "
                f"sha256 {sanitize.clean(cat.sha256, 12)}")
    host = report.host
    text.append(f"\nRan on {sanitize.clean(host.hostname, 80)} "
                f"({sanitize.clean(host.platform, 80)}) at {sanitize.clean(report.started_at, 40)}")
    resolvers = ", ".join(sanitize.clean(r, 60) for r in host.resolvers) or "system default"
    text.append(f"\nResolvers: {resolvers}; proxy: {sanitize.clean(host.proxy or 'none', 120)}")
    return text


def _results_table(report: RunReport, table_box: box.Box) -> Table:
    with_proxy = any(p.phase == "proxy" for e in report.endpoints for t in e.targets
                     for p in t.phases)
    table = Table(box=table_box, show_edge=False, pad_edge=False, header_style="bold",
                  padding=(0, 1, 0, 0))
    columns = ["Endpoint", "Result", "Target IP", "Port", "DNS", "TCP"]
    columns += ["Proxy"] if with_proxy else []
    columns += ["TLS", "App", "Time"]
    for name in columns:
        # Short columns keep their width; long names give way (the findings have them).
        table.add_column(name, justify="right" if name in ("Port", "Time") else "left",
                         no_wrap=name in _NO_WRAP, overflow="fold",
                         min_width=_MIN_WIDTH.get(name),
                         max_width=32 if name == "Endpoint" else None)
    for ep in report.endpoints:
        for i, row in enumerate(_endpoint_rows(ep, with_proxy)):
            table.add_row(*row, end_section=i == -1)
    return table


def _endpoint_rows(ep: EndpointResult, with_proxy: bool) -> Iterator[list[Text]]:
    dns_status = "pass" if dns_masked(ep.dns, ep.targets) else ep.dns.status
    dns = _t(_short(ep.dns.code), STYLES.get(dns_status, ""), CELL_MAX)
    first = [_t(ep.name, "bold", CELL_MAX), _status(ep.status)]
    blank = [Text(""), Text("")]
    if not ep.targets:
        yield [*first, Text("-"), Text(str(ep.port)), dns, Text(""),
               *([Text("")] if with_proxy else []), Text(""), Text(""),
               Text(_ms(ep.dns.duration_ms))]
        return
    for i, t in enumerate(ep.targets):
        target = _t(t.ip if t.ip is not None else "via proxy", "", CELL_MAX)
        cells = [*(first if i == 0 else blank), target, Text(str(ep.port)),
                 dns if i == 0 else Text(""), _phase_cell(_phase(t, ["tcp"]))]
        if with_proxy:
            cells.append(_phase_cell(_phase(t, ["proxy"])))
        cells += [_phase_cell(_phase(t, ["tls"])), _phase_cell(_phase(t, APP_PHASES)),
                  Text(_ms(sum(p.duration_ms for p in t.phases)))]
        yield cells


def _findings(report: RunReport) -> list[RenderableType]:
    out: list[RenderableType] = [Text("Findings", style="bold underline")]
    if not report.findings:
        out.append(Text("None: every endpoint passed."))
        return out
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True, width=5)
    grid.add_column(overflow="fold")
    for f in report.findings:
        where = f"{f.ip}:{f.port}" if f.ip else f"{f.host}:{f.port}"
        body = Text()
        body.append(sanitize.clean(f.endpoint, 80), style="bold")
        body.append(f"  {sanitize.clean(where, 120)}  {sanitize.clean(f.code, 60)}")
        body.append("\n" + sanitize.clean(f.summary, LINE_MAX))
        body.append("\nAction: " + sanitize.clean(f.action, LINE_MAX))
        grid.add_row(Text(f.severity.upper(), style=STYLES.get(f.severity, "")), body)
    out.append(grid)
    return out


# Which columns each section shows: the others repeat the destination.
_COLUMNS: dict[str, tuple[str, ...]] = {
    "allow": ("Destination", "Port", "Proto", "Hostnames", "Seen", "Needed by"),
    "tls_bypass": ("Hostname", "Port", "Seen", "Needed by"),
    "proxy_allow": ("Entry", "Seen", "Needed by"),
    "dns_fix": ("Hostname", "Seen", "Needed by"),
    "other": ("Hostname", "Port", "Seen", "Needed by"),
}


def needed_by(row: ChangeRow) -> list[str]:
    """``endpoint: purpose`` per catalogue entry (purposes line up when they can)."""
    purposes = row.purposes if len(row.purposes) == len(row.endpoints) else ()
    if not purposes:
        return [*row.endpoints, *(f"({p})" for p in row.purposes)]
    return [f"{e}: {p}" if p else e for e, p in zip(row.endpoints, purposes, strict=True)]


def _cell(row: ChangeRow, column: str) -> Text:
    if column in ("Destination", "Hostname", "Entry"):
        return _t(row.destination, "", 120)
    if column == "Port":
        return Text("" if row.port is None else str(row.port))
    if column == "Proto":
        return _t(row.protocol, "", 10)
    if column == "Hostnames":
        return Text("\n".join(sanitize.clean(h, 120) for h in row.hostnames))
    if column == "Seen":
        return _t(row.seen)
    return Text("\n".join(sanitize.clean(n, 160) for n in needed_by(row)))


def _change_request(cr: ChangeRequest, table_box: box.Box) -> list[RenderableType]:
    out: list[RenderableType] = [Text("Change request", style="bold underline")]
    if cr.empty:
        out.append(Text("Nothing to change."))
    for name in SECTIONS:
        rows = cr.section(name)
        if not rows:
            continue
        out.append(Text(SECTION_TITLES[name], style="bold"))
        table = Table(box=table_box, show_edge=False, pad_edge=False, header_style="bold",
                  padding=(0, 1, 0, 0))
        for col in _COLUMNS[name]:
            table.add_column(col, overflow="fold", justify="right" if col == "Port" else "left",
                             no_wrap=col in ("Port", "Proto"))
        for r in rows:
            table.add_row(*(_cell(r, col) for col in _COLUMNS[name]))
        out.append(table)
    fine = ", ".join(sanitize.clean(n, 60) for n in cr.fine_endpoints)
    out.append(Text(f"Already fine: {cr.already_fine} endpoint"
                    f"{'' if cr.already_fine == 1 else 's'}" + (f" ({fine})" if fine else "")))
    return out


_TONE_STYLES = {"worse": "red", "better": "green", "note": ""}


def _since_last_run(report: RunReport) -> list[RenderableType]:
    if report.since_last_run is None:
        return []
    from netcheck.diff import describe_toned

    changes = describe_toned(report.since_last_run)
    out: list[RenderableType] = [Text("Since the last run", style="bold underline")]
    if not changes:
        out.append(Text("Nothing changed since the last run of this catalogue."))
    out += [Text(line, style=_TONE_STYLES.get(tone, "")) for line, tone in changes]
    return [Group(*out), Text("")]


def renderables(report: RunReport, *, plain: bool = False) -> list[RenderableType]:
    table_box = PLAIN_BOX if plain else box.SIMPLE_HEAD
    return [
        _header(report),
        Text(""),
        *_since_last_run(report),
        _results_table(report, table_box),
        Text(""),
        Group(*_findings(report)),
        Text(""),
        Group(*_change_request(build_change_request(report), table_box)),
    ]


# -- entry points ---------------------------------------------------------------------


def print_summary_line(report: RunReport, console: Console) -> None:
    console.print(summary_line(report), markup=False, highlight=False, emoji=False)


def print_report(report: RunReport, console: Console) -> None:
    plain = not console.is_terminal
    if plain and "COLUMNS" not in os.environ:
        # A pipe or a file has no width of its own: use the plain render's,
        # not rich's 80 columns, so IPs and hostnames stay on one line.
        console.width = max(console.width, PLAIN_WIDTH)
    for part in renderables(report, plain=plain):
        console.print(part, markup=False, highlight=False, emoji=False)


def render(report: RunReport) -> str:
    """Plain text: no colour, ASCII borders, a fixed width (stable for files and diffs)."""
    buf = io.StringIO()
    console = Console(file=buf, width=PLAIN_WIDTH, height=50, force_terminal=False,
                      color_system=None, no_color=True, legacy_windows=False,
                      force_jupyter=False, force_interactive=False, soft_wrap=False,
                      _environ={})
    print_report(report, console)
    return "\n".join(line.rstrip() for line in buf.getvalue().splitlines()) + "\n"
