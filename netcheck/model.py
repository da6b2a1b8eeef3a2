"""The run's results as one immutable model, and its JSON form (the contract).

PhaseResult ─┐
DnsResult  ──┼─▶ TargetResult ─▶ EndpointResult ─▶ RunReport
Finding    ──┘

Everything is a frozen, slotted dataclass: results are shared between the
runner, the diagnosis and every renderer and are never mutated halfway.
``RunReport.to_dict()`` produces exactly the document of DESIGN.md;
``RunReport.from_dict()`` loads a saved report back, so any saved run can be
re-rendered in another format.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from netcheck.codes import Severity, Status

SCHEMA_ID = "netcheck.report/1"

TargetSource = Literal["resolved", "expected", "both", "proxy"]


@dataclass(frozen=True, slots=True)
class PhaseResult:
    phase: str
    status: Status
    code: str
    duration_ms: float = 0.0
    detail: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "status": self.status,
            "code": self.code,
            "duration_ms": self.duration_ms,
            "detail": self.detail,
            "data": dict(self.data),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PhaseResult:
        return cls(
            phase=d["phase"],
            status=d["status"],
            code=d["code"],
            duration_ms=float(d["duration_ms"]),
            detail=d.get("detail", ""),
            data=dict(d.get("data", {})),
        )


def skipped(phase: str) -> PhaseResult:
    """The result of a phase that did not run because an earlier one failed."""
    return PhaseResult(phase=phase, status="skip", code="skipped")


@dataclass(frozen=True, slots=True)
class DnsResult:
    """The DNS phase of one endpoint: a phase result plus the address sets."""

    status: Status
    code: str
    duration_ms: float = 0.0
    detail: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)
    addresses: tuple[str, ...] = ()
    expected_ips: tuple[str, ...] = ()
    unexpected: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    phase: str = "dns"

    def to_dict(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "status": self.status,
            "code": self.code,
            "duration_ms": self.duration_ms,
            "addresses": list(self.addresses),
            "expected_ips": list(self.expected_ips),
            "unexpected": list(self.unexpected),
            "missing": list(self.missing),
            "detail": self.detail,
            "data": dict(self.data),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DnsResult:
        return cls(
            status=d["status"],
            code=d["code"],
            duration_ms=float(d["duration_ms"]),
            detail=d.get("detail", ""),
            data=dict(d.get("data", {})),
            addresses=tuple(d.get("addresses", ())),
            expected_ips=tuple(d.get("expected_ips", ())),
            unexpected=tuple(d.get("unexpected", ())),
            missing=tuple(d.get("missing", ())),
        )


@dataclass(frozen=True, slots=True)
class TargetResult:
    """One address (or the proxy tunnel) probed through all its phases."""

    ip: str | None
    source: TargetSource
    status: Status
    phases: tuple[PhaseResult, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "ip": self.ip,
            "source": self.source,
            "status": self.status,
            "phases": [p.to_dict() for p in self.phases],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TargetResult:
        return cls(
            ip=d["ip"],
            source=d["source"],
            status=d["status"],
            phases=tuple(PhaseResult.from_dict(p) for p in d["phases"]),
        )


@dataclass(frozen=True, slots=True)
class Finding:
    """What is wrong, and the action that fixes it (wording from codes.py)."""

    code: str
    severity: Severity
    endpoint: str
    host: str
    ip: str | None
    port: int
    summary: str
    action: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "endpoint": self.endpoint,
            "host": self.host,
            "ip": self.ip,
            "port": self.port,
            "summary": self.summary,
            "action": self.action,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Finding:
        return cls(
            code=d["code"],
            severity=d["severity"],
            endpoint=d["endpoint"],
            host=d["host"],
            ip=d.get("ip"),
            port=int(d["port"]),
            summary=d["summary"],
            action=d["action"],
        )


@dataclass(frozen=True, slots=True)
class EndpointResult:
    name: str
    host: str
    port: int
    probe: str
    required: bool
    tags: tuple[str, ...]
    status: Status
    dns: DnsResult
    targets: tuple[TargetResult, ...] = ()
    findings: tuple[Finding, ...] = ()
    purpose: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "host": self.host,
            "port": self.port,
            "probe": self.probe,
            "required": self.required,
            "tags": list(self.tags),
            "purpose": self.purpose,
            "status": self.status,
            "dns": self.dns.to_dict(),
            "targets": [t.to_dict() for t in self.targets],
            "findings": [f.to_dict() for f in self.findings],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EndpointResult:
        return cls(
            name=d["name"],
            host=d["host"],
            port=int(d["port"]),
            probe=d["probe"],
            required=bool(d["required"]),
            tags=tuple(d.get("tags", ())),
            purpose=d.get("purpose", ""),
            status=d["status"],
            dns=DnsResult.from_dict(d["dns"]),
            targets=tuple(TargetResult.from_dict(t) for t in d.get("targets", ())),
            findings=tuple(Finding.from_dict(f) for f in d.get("findings", ())),
        )


@dataclass(frozen=True, slots=True)
class HostInfo:
    """Where the run happened: enough for a ticket to say "from which machine"."""

    hostname: str
    platform: str
    python: str = ""
    resolvers: tuple[str, ...] = ()
    proxy: str | None = None  # credentials already redacted
    # Environment facts for support (interfaces, routes, resolv.conf, hosts
    # entries, proxy variables, clock skew): JSON-ready, secrets redacted.
    environment: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "hostname": self.hostname,
            "platform": self.platform,
            "python": self.python,
            "resolvers": list(self.resolvers),
            "proxy": self.proxy,
            "environment": dict(self.environment),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> HostInfo:
        return cls(
            hostname=d["hostname"],
            platform=d["platform"],
            python=d.get("python", ""),
            resolvers=tuple(d.get("resolvers", ())),
            proxy=d.get("proxy"),
            environment=dict(d.get("environment", {})),
        )


@dataclass(frozen=True, slots=True)
class CatalogInfo:
    source: str
    sha256: str
    endpoints: int

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "sha256": self.sha256, "endpoints": self.endpoints}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CatalogInfo:
        return cls(source=d["source"], sha256=d["sha256"], endpoints=int(d["endpoints"]))


@dataclass(frozen=True, slots=True)
class Summary:
    status: Status
    passed: int = 0
    warned: int = 0
    failed: int = 0
    skipped: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "pass": self.passed,
            "warn": self.warned,
            "fail": self.failed,
            "skip": self.skipped,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Summary:
        return cls(
            status=d["status"],
            passed=int(d["pass"]),
            warned=int(d["warn"]),
            failed=int(d["fail"]),
            skipped=int(d["skip"]),
        )


@dataclass(frozen=True, slots=True)
class RunReport:
    tool_version: str
    started_at: str  # RFC 3339, UTC, "Z"
    finished_at: str
    duration_ms: float
    interrupted: bool
    host: HostInfo
    catalog: CatalogInfo
    options: Mapping[str, Any]
    summary: Summary
    endpoints: tuple[EndpointResult, ...]
    # What changed since the last run of the same catalogue and selection
    # (netcheck.history); None when there is no earlier run to compare with.
    since_last_run: Mapping[str, Any] | None = None

    @property
    def findings(self) -> tuple[Finding, ...]:
        """Every endpoint's findings, flattened, in catalogue order."""
        return tuple(f for e in self.endpoints for f in e.findings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_ID,
            "tool": {"name": "netcheck", "version": self.tool_version},
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration_ms": self.duration_ms,
            "interrupted": self.interrupted,
            "host": self.host.to_dict(),
            "catalog": self.catalog.to_dict(),
            "options": dict(self.options),
            "summary": self.summary.to_dict(),
            "endpoints": [e.to_dict() for e in self.endpoints],
            "findings": [f.to_dict() for f in self.findings],
            "since_last_run": (dict(self.since_last_run)
                               if self.since_last_run is not None else None),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RunReport:
        if d.get("schema") != SCHEMA_ID:
            raise ValueError(f"not a netcheck report (schema {d.get('schema')!r}, "
                             f"expected {SCHEMA_ID!r})")
        return cls(
            tool_version=d["tool"]["version"],
            started_at=d["started_at"],
            finished_at=d["finished_at"],
            duration_ms=float(d["duration_ms"]),
            interrupted=bool(d["interrupted"]),
            host=HostInfo.from_dict(d["host"]),
            catalog=CatalogInfo.from_dict(d["catalog"]),
            options=dict(d["options"]),
            summary=Summary.from_dict(d["summary"]),
            endpoints=tuple(EndpointResult.from_dict(e) for e in d["endpoints"]),
            since_last_run=d.get("since_last_run"),
        )
