"""What changed between two runs, and the ``netcheck diff`` command.

Both sides of a comparison are first reduced to one :class:`Snapshot`: the
few facts per endpoint and target that a comparison needs (status, the codes
that are not ``*.ok``/``skipped``, DNS answers, the leaf certificate, phase
durations). A full :class:`~netcheck.model.RunReport` and a line of
``history.jsonl`` (:mod:`netcheck.history`) both convert into it, so
``since_last_run`` needs no saved copy of the previous report; the history
line *is* ``Snapshot.to_dict()`` plus the run's metadata.

:func:`compare` is pure. The kinds of change, and which of them are
*regressions* (``netcheck diff`` exits 1; ``Changes.regressions``):

=====================  ===========================================  ==========
kind                   when                                         regression
=====================  ===========================================  ==========
newly_failing          an endpoint, or one of its targets, went     yes
                       from pass/warn (or absent) to fail
recovered              fail to pass/warn                            no
new_unexpected_dns     DNS answered an address outside the          yes
                       published list that it had not answered
                       outside it before
cert_changed           a target's leaf sha256 or issuer differs     only when
                                                                    the issuer
                                                                    changed
latency_up             a phase took > 2x as long AND > +200 ms      no
endpoints_added /      an endpoint in only one of the two runs      no
endpoints_removed
=====================  ===========================================  ==========

Why these lines: a new fingerprint under the same issuer is a routine
renewal; a new issuer is what a TLS-inspecting middlebox (or a CA migration)
looks like, and either deserves a human look before a rollout even while the
TLS phase still passes. Latency alone is a warning: a slower path still works,
and paging someone for a slow run would train people to ignore the pages.
``skip`` (an address family with no route) is neither good nor bad, so moves
to or from it are not reported.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netcheck.model import EndpointResult, RunReport, TargetResult

EXIT_OK, EXIT_REGRESSION, EXIT_USAGE = 0, 1, 2

# Latency up sharply = both: more than LATENCY_RATIO times the old duration
# (a relative change, whatever the path's base latency) and more than
# LATENCY_FLOOR_MS slower (on loopback or a LAN, 1 ms -> 3 ms is "3x" and
# pure jitter; around 200 ms a person starts to notice call set-up delay).
LATENCY_RATIO = 2.0
LATENCY_FLOOR_MS = 200.0

_GOOD = ("pass", "warn")
PROXY_TARGET = "proxy"  # the key of the one target through a proxy (ip is null)


def _round(ms: float) -> float:
    return round(float(ms), 1)


def _notable(code: str) -> bool:
    return code != "skipped" and not code.endswith(".ok")


# -- the snapshot: what both a report and a history line reduce to -------------

@dataclass(frozen=True, slots=True)
class TargetSnap:
    key: str  # the IP, or "proxy" for the tunnel through a proxy
    status: str
    codes: tuple[str, ...] = ()
    durations: Mapping[str, float] = field(default_factory=dict)  # phase -> ms, phases run
    cert_sha256: str | None = None
    cert_issuer: str | None = None

    @classmethod
    def from_result(cls, t: TargetResult) -> TargetSnap:
        sha256 = issuer = None
        for p in t.phases:
            if p.phase == "tls" and p.data.get("sha256"):
                sha256 = str(p.data["sha256"])
                issuer = str(p.data["issuer"]) if p.data.get("issuer") is not None else None
        return cls(
            key=t.ip if t.ip is not None else PROXY_TARGET,
            status=t.status,
            codes=tuple(sorted({p.code for p in t.phases if _notable(p.code)})),
            durations={p.phase: _round(p.duration_ms) for p in t.phases if p.status != "skip"},
            cert_sha256=sha256,
            cert_issuer=issuer,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "ip": self.key,
            "status": self.status,
            "codes": list(self.codes),
            "ms": dict(self.durations),
            "tls": ({"sha256": self.cert_sha256, "issuer": self.cert_issuer}
                    if self.cert_sha256 is not None else None),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TargetSnap:
        tls = d.get("tls") or {}
        return cls(
            key=str(d["ip"]),
            status=str(d["status"]),
            codes=tuple(d.get("codes", ())),
            durations={str(k): float(v) for k, v in (d.get("ms") or {}).items()},
            cert_sha256=tls.get("sha256"),
            cert_issuer=tls.get("issuer"),
        )


@dataclass(frozen=True, slots=True)
class EndpointSnap:
    name: str
    status: str
    codes: tuple[str, ...] = ()  # DNS and every target's, not ok/skipped
    addresses: tuple[str, ...] = ()
    unexpected: tuple[str, ...] = ()
    dns_ms: float = 0.0
    targets: tuple[TargetSnap, ...] = ()

    @classmethod
    def from_result(cls, ep: EndpointResult) -> EndpointSnap:
        targets = tuple(TargetSnap.from_result(t) for t in ep.targets)
        found = {c for t in targets for c in t.codes}
        if _notable(ep.dns.code):
            found.add(ep.dns.code)
        return cls(
            name=ep.name,
            status=ep.status,
            codes=tuple(sorted(found)),
            addresses=tuple(ep.dns.addresses),
            unexpected=tuple(ep.dns.unexpected),
            dns_ms=_round(ep.dns.duration_ms),
            targets=targets,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "codes": list(self.codes),
            "dns": {"addresses": list(self.addresses), "unexpected": list(self.unexpected),
                    "ms": self.dns_ms},
            "targets": [t.to_dict() for t in self.targets],
        }

    @classmethod
    def from_dict(cls, name: str, d: Mapping[str, Any]) -> EndpointSnap:
        dns = d.get("dns") or {}
        return cls(
            name=name,
            status=str(d["status"]),
            codes=tuple(d.get("codes", ())),
            addresses=tuple(dns.get("addresses", ())),
            unexpected=tuple(dns.get("unexpected", ())),
            dns_ms=float(dns.get("ms", 0.0)),
            targets=tuple(TargetSnap.from_dict(t) for t in d.get("targets", ())),
        )

    def target(self, key: str) -> TargetSnap | None:
        return next((t for t in self.targets if t.key == key), None)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One run, reduced to what a comparison needs."""

    started_at: str
    status: str
    endpoints: tuple[EndpointSnap, ...]
    run_id: str | None = None  # history lines have one; report files do not

    @classmethod
    def from_report(cls, report: RunReport) -> Snapshot:
        return cls(started_at=report.started_at, status=report.summary.status,
                   endpoints=tuple(EndpointSnap.from_result(e) for e in report.endpoints))

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any]) -> Snapshot:
        """From a history line (:func:`netcheck.history.entry`)."""
        return cls(
            started_at=str(entry["started_at"]),
            status=str(entry["summary"]["status"]),
            endpoints=tuple(EndpointSnap.from_dict(str(name), d)
                            for name, d in entry["endpoints"].items()),
            run_id=entry.get("run_id"),
        )

    def endpoints_dict(self) -> dict[str, Any]:
        """The ``endpoints`` object of a history line."""
        return {e.name: e.to_dict() for e in self.endpoints}

    def endpoint(self, name: str) -> EndpointSnap | None:
        return next((e for e in self.endpoints if e.name == name), None)


def snapshot(source: RunReport | Snapshot | Mapping[str, Any]) -> Snapshot:
    if isinstance(source, Snapshot):
        return source
    if isinstance(source, RunReport):
        return Snapshot.from_report(source)
    return Snapshot.from_entry(source)


# -- changes ------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class TargetStatusChange:
    target: str
    old: str | None  # None: the target was not probed last time
    new: str
    codes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "old": self.old, "new": self.new,
                "codes": list(self.codes)}


@dataclass(frozen=True, slots=True)
class StatusChange:
    """An endpoint that failed anew (or recovered): its own statuses, its codes
    now, and the targets that crossed the same way (empty when only DNS did)."""

    endpoint: str
    old: str
    new: str
    codes: tuple[str, ...]
    targets: tuple[TargetStatusChange, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "old": self.old, "new": self.new,
                "codes": list(self.codes), "targets": [t.to_dict() for t in self.targets]}


@dataclass(frozen=True, slots=True)
class DnsChange:
    endpoint: str
    addresses: tuple[str, ...]  # outside the published list, not answered outside it before

    def to_dict(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "addresses": list(self.addresses)}


@dataclass(frozen=True, slots=True)
class CertChange:
    endpoint: str
    target: str
    old_sha256: str
    new_sha256: str
    old_issuer: str | None
    new_issuer: str | None

    @property
    def issuer_changed(self) -> bool:
        return self.old_issuer != self.new_issuer

    def to_dict(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "target": self.target,
                "old_sha256": self.old_sha256, "new_sha256": self.new_sha256,
                "old_issuer": self.old_issuer, "new_issuer": self.new_issuer,
                "issuer_changed": self.issuer_changed}


@dataclass(frozen=True, slots=True)
class LatencyChange:
    endpoint: str
    target: str | None  # None: the DNS phase
    phase: str
    old_ms: float
    new_ms: float

    def to_dict(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "target": self.target, "phase": self.phase,
                "old_ms": self.old_ms, "new_ms": self.new_ms}


@dataclass(frozen=True, slots=True)
class RunRef:
    run_id: str | None
    started_at: str
    status: str

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "started_at": self.started_at, "status": self.status}


@dataclass(frozen=True, slots=True)
class Changes:
    compared_with: RunRef  # the older run
    newly_failing: tuple[StatusChange, ...] = ()
    recovered: tuple[StatusChange, ...] = ()
    new_unexpected_dns: tuple[DnsChange, ...] = ()
    cert_changed: tuple[CertChange, ...] = ()
    latency_up: tuple[LatencyChange, ...] = ()
    endpoints_added: tuple[str, ...] = ()
    endpoints_removed: tuple[str, ...] = ()

    @property
    def regressions(self) -> bool:
        """Something got worse (see the module docstring for what counts)."""
        return bool(self.newly_failing or self.new_unexpected_dns
                    or any(c.issuer_changed for c in self.cert_changed))

    @property
    def empty(self) -> bool:
        return not (self.newly_failing or self.recovered or self.new_unexpected_dns
                    or self.cert_changed or self.latency_up or self.endpoints_added
                    or self.endpoints_removed)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready ``since_last_run`` object (and ``netcheck diff --format json``)."""
        return {
            "compared_with": self.compared_with.to_dict(),
            "regressions": self.regressions,
            "newly_failing": [c.to_dict() for c in self.newly_failing],
            "recovered": [c.to_dict() for c in self.recovered],
            "new_unexpected_dns": [c.to_dict() for c in self.new_unexpected_dns],
            "cert_changed": [c.to_dict() for c in self.cert_changed],
            "latency_up": [c.to_dict() for c in self.latency_up],
            "endpoints_added": list(self.endpoints_added),
            "endpoints_removed": list(self.endpoints_removed),
        }


def _crossed(old: str | None, new: str, into_fail: bool) -> bool:
    if into_fail:
        return new == "fail" and (old is None or old in _GOOD)
    return old == "fail" and new in _GOOD


def _status_change(old: EndpointSnap, new: EndpointSnap, into_fail: bool) -> StatusChange | None:
    targets = []
    for t in new.targets:
        before = old.target(t.key)
        if before is None and not into_fail:
            continue  # a target seen only now cannot have recovered
        if _crossed(before.status if before else None, t.status, into_fail):
            targets.append(TargetStatusChange(t.key, before.status if before else None,
                                              t.status, t.codes))
    if not targets and not _crossed(old.status, new.status, into_fail):
        return None
    return StatusChange(new.name, old.status, new.status, new.codes, tuple(targets))


def _sharply_up(old_ms: float, new_ms: float) -> bool:
    return new_ms > LATENCY_RATIO * old_ms and new_ms - old_ms > LATENCY_FLOOR_MS


def _latency(old: EndpointSnap, new: EndpointSnap) -> Iterable[LatencyChange]:
    # Only between runs where the thing worked both times: a phase that now
    # times out is "newly failing", and its duration is just the timeout.
    if old.status in _GOOD and new.status in _GOOD and _sharply_up(old.dns_ms, new.dns_ms):
        yield LatencyChange(new.name, None, "dns", old.dns_ms, new.dns_ms)
    for t in new.targets:
        before = old.target(t.key)
        if before is None or before.status not in _GOOD or t.status not in _GOOD:
            continue
        for phase, ms in t.durations.items():
            was = before.durations.get(phase)
            if was is not None and _sharply_up(was, ms):
                yield LatencyChange(new.name, t.key, phase, was, ms)


def _certs(old: EndpointSnap, new: EndpointSnap) -> Iterable[CertChange]:
    for t in new.targets:
        before = old.target(t.key)
        if before is None or before.cert_sha256 is None or t.cert_sha256 is None:
            continue  # not seen both times: nothing to compare
        if before.cert_sha256 != t.cert_sha256 or before.cert_issuer != t.cert_issuer:
            yield CertChange(new.name, t.key, before.cert_sha256, t.cert_sha256,
                             before.cert_issuer, t.cert_issuer)


def compare(old: RunReport | Snapshot | Mapping[str, Any],
            new: RunReport | Snapshot | Mapping[str, Any]) -> Changes:
    """What changed from ``old`` to ``new`` (reports, snapshots or history lines)."""
    a, b = snapshot(old), snapshot(new)
    newly_failing, recovered, dns_changes = [], [], []
    certs: list[CertChange] = []
    latency: list[LatencyChange] = []
    for ep in b.endpoints:
        before = a.endpoint(ep.name)
        if before is None:
            continue
        if (change := _status_change(before, ep, into_fail=True)) is not None:
            newly_failing.append(change)
        if (change := _status_change(before, ep, into_fail=False)) is not None:
            recovered.append(change)
        fresh = tuple(ip for ip in ep.unexpected if ip not in before.unexpected)
        if fresh:
            dns_changes.append(DnsChange(ep.name, fresh))
        certs.extend(_certs(before, ep))
        latency.extend(_latency(before, ep))
    old_names = {e.name for e in a.endpoints}
    new_names = {e.name for e in b.endpoints}
    return Changes(
        compared_with=RunRef(a.run_id, a.started_at, a.status),
        newly_failing=tuple(newly_failing),
        recovered=tuple(recovered),
        new_unexpected_dns=tuple(dns_changes),
        cert_changed=tuple(certs),
        latency_up=tuple(latency),
        endpoints_added=tuple(e.name for e in b.endpoints if e.name not in old_names),
        endpoints_removed=tuple(e.name for e in a.endpoints if e.name not in new_names),
    )


# -- words: for the diff command and for any renderer showing since_last_run --

def _short(sha256: str | None) -> str:
    return (sha256 or "?")[:16]


def describe(changes: Mapping[str, Any]) -> list[str]:
    """One sentence per change, from the JSON-ready object (``Changes.to_dict()``
    or a report's ``since_last_run``). Every value is passed through
    :func:`netcheck.sanitize.clean`: it may come from a file someone sent."""
    return [line for line, _tone in describe_toned(changes)]


def describe_toned(changes: Mapping[str, Any]) -> list[tuple[str, str]]:
    """:func:`describe` with each line's tone: ``worse`` (a regression),
    ``better`` (recovered) or ``note`` (for a renderer's colours)."""
    from netcheck.sanitize import clean

    def codes(items: Iterable[Any]) -> str:
        listed = ", ".join(clean(c, 60) for c in items)
        return f": {listed}" if listed else ""

    lines: list[tuple[str, str]] = []
    for kind, verb, tone in (("newly_failing", "newly failing", "worse"),
                             ("recovered", "recovered", "better")):
        for c in changes.get(kind, ()):
            lines.append((f"{verb}: {clean(c['endpoint'])} ({clean(c['old'])} -> "
                          f"{clean(c['new'])}){codes(c.get('codes', ()))}", tone))
            for t in c.get("targets", ()):
                old = clean(t["old"]) if t.get("old") is not None else "not probed"
                lines.append((f"  {clean(t['target'])}: {old} -> {clean(t['new'])}"
                              f"{codes(t.get('codes', ()))}", tone))
    for c in changes.get("new_unexpected_dns", ()):
        lines.append((f"new DNS answer outside the published list: {clean(c['endpoint'])} -> "
                      + ", ".join(clean(a, 60) for a in c.get("addresses", ())), "worse"))
    for c in changes.get("cert_changed", ()):
        what = (f"issuer {clean(c.get('old_issuer'))} -> {clean(c.get('new_issuer'))}"
                if c.get("issuer_changed") else
                f"same issuer {clean(c.get('new_issuer'))}")
        lines.append((f"certificate changed: {clean(c['endpoint'])} {clean(c['target'])}: "
                      f"sha256 {clean(_short(c.get('old_sha256')))} -> "
                      f"{clean(_short(c.get('new_sha256')))}, {what}",
                      "worse" if c.get("issuer_changed") else "note"))
    for c in changes.get("latency_up", ()):
        where = clean(c["endpoint"]) + (f" {clean(c['target'])}" if c.get("target") else "")
        lines.append((f"latency up sharply: {where} {clean(c['phase'])} "
                      f"{float(c['old_ms']):.0f} ms -> {float(c['new_ms']):.0f} ms", "note"))
    for name in changes.get("endpoints_added", ()):
        lines.append((f"endpoint added: {clean(name)}", "note"))
    for name in changes.get("endpoints_removed", ()):
        lines.append((f"endpoint removed: {clean(name)}", "note"))
    return lines


def json_schema() -> dict[str, Any]:
    """The JSON Schema of ``Changes.to_dict()`` (``since_last_run`` in the report)."""
    def closed(props: dict[str, Any]) -> dict[str, Any]:
        return {"type": "object", "properties": props, "required": list(props),
                "additionalProperties": False}

    text, text_or_null = {"type": "string"}, {"type": ["string", "null"]}
    strings = {"type": "array", "items": text}
    ms = {"type": "number", "minimum": 0}
    status_change = closed({
        "endpoint": text, "old": text, "new": text, "codes": strings,
        "targets": {"type": "array", "items": closed({
            "target": text, "old": text_or_null, "new": text, "codes": strings})},
    })

    def array(item: dict[str, Any]) -> dict[str, Any]:
        return {"type": "array", "items": item}

    return closed({
        "compared_with": closed({"run_id": text_or_null, "started_at": text, "status": text}),
        "regressions": {"type": "boolean"},
        "newly_failing": array(status_change),
        "recovered": array(status_change),
        "new_unexpected_dns": array(closed({"endpoint": text, "addresses": strings})),
        "cert_changed": array(closed({
            "endpoint": text, "target": text, "old_sha256": text, "new_sha256": text,
            "old_issuer": text_or_null, "new_issuer": text_or_null,
            "issuer_changed": {"type": "boolean"}})),
        "latency_up": array(closed({
            "endpoint": text, "target": text_or_null, "phase": text,
            "old_ms": ms, "new_ms": ms})),
        "endpoints_added": strings,
        "endpoints_removed": strings,
    })


# -- the command ----------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("old", type=Path, metavar="OLD.json", help="the earlier JSON report")
    parser.add_argument("new", type=Path, metavar="NEW.json", help="the later JSON report")
    parser.add_argument("--format", choices=("console", "json"), default="console",
                        help="console (default) or json (the since_last_run object)")


def _print_console(changes: Changes, old: RunReport, new: RunReport) -> None:
    from rich.console import Console
    from rich.text import Text

    from netcheck.sanitize import clean

    encoding = (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "")
    if not encoding.startswith("utf") and hasattr(sys.stdout, "reconfigure"):
        # A console that cannot show a character gets "?", not a traceback.
        sys.stdout.reconfigure(errors="replace")
    console = Console(markup=False, highlight=False, emoji=False)
    head = Text(f"{clean(old.started_at)} ({clean(old.summary.status)}) -> "
                f"{clean(new.started_at)} ({clean(new.summary.status)})")
    console.print(head)
    if old.catalog.sha256 != new.catalog.sha256:
        console.print(Text("note: the two runs used different catalogues "
                           f"({clean(old.catalog.source)}, {clean(new.catalog.source)})"))
    if changes.empty:
        console.print(Text("no change"))
        return
    styles = {"worse": "bold red", "better": "green", "note": "yellow"}
    for line, tone in describe_toned(changes.to_dict()):
        console.print(Text(line, style=styles[tone]))
    console.print(Text("regressions: yes" if changes.regressions else "regressions: none",
                       style="bold red" if changes.regressions else "green"))


def main(args: argparse.Namespace) -> int:
    from netcheck.cli import UsageError
    from netcheck.render.json import ReportLoadError, load

    try:
        old, new = load(args.old), load(args.new)
    except ReportLoadError as exc:
        raise UsageError(str(exc)) from None
    changes = compare(old, new)
    if args.format == "json":
        sys.stdout.write(json.dumps(changes.to_dict(), indent=2, ensure_ascii=False) + "\n")
    else:
        _print_console(changes, old, new)
    return EXIT_REGRESSION if changes.regressions else EXIT_OK
