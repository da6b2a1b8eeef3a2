"""Prometheus text exposition, for node-exporter's textfile collector.

A scheduled ``netcheck run --format prometheus --output
/var/lib/node_exporter/textfile/netcheck.prom`` turns every run into metrics
(the CLI's output is written atomically, as the collector requires). Names
follow the Prometheus conventions: a ``netcheck_`` prefix, base units in the
name (``_seconds``), ``_info`` for constant-1 series that carry labels.

=====================================================  ==========================
metric                                                 value
=====================================================  ==========================
``netcheck_run_timestamp_seconds``                     when the run finished (Unix time)
``netcheck_run_duration_seconds``                      the run's wall time
``netcheck_run_interrupted``                           1 if the run was cut short
``netcheck_run_status{status}``                        1 for the run's status, 0 for the others
``netcheck_endpoints{status}``                         endpoints per status
``netcheck_findings{severity}``                        findings per severity
``netcheck_endpoint_info{endpoint,host,port,probe,required}``  1
``netcheck_endpoint_status{endpoint,status}``          1 for its status, 0 for the others
``netcheck_probe_success{endpoint,target,phase}``      1 pass/warn, 0 fail
``netcheck_phase_duration_seconds{endpoint,target,phase}``  the phase's time
``netcheck_phase_info{endpoint,target,phase,code,status}``  1, every phase
``netcheck_tls_cert_not_after_seconds{endpoint,target}``  leaf expiry (Unix time)
``netcheck_build_info{version}``                       1
=====================================================  ==========================

``netcheck serve`` adds, for the same report (:func:`exporter_families`),
``netcheck_endpoint_success{endpoint,required}``,
``netcheck_findings_by_code{code,severity}`` and
``netcheck_dns_unexpected_address{endpoint,address}``, and metrics of its own
(see netcheck.serve).

``target`` is the IP address, or ``proxy`` for the tunnel through a proxy;
the endpoint's DNS phase has ``target=""`` (it is not per address).
``probe_success`` and ``phase_duration_seconds`` have a series only for the
phases that ran: a phase skipped after a failure has no time and no verdict
of its own (``phase_info`` still lists it, with ``status="skip"``).
Alert on staleness with ``time() - netcheck_run_timestamp_seconds``.
"""

from __future__ import annotations

import datetime as dt
import re

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from netcheck import codes, sanitize
from netcheck.model import EndpointResult, PhaseResult, RunReport, TargetResult

STATUSES = ("pass", "warn", "fail", "skip")
SEVERITIES = ("info", "warn", "fail")
PROXY_TARGET = "proxy"

# The exposition format escapes only backslash, quote and newline in label
# values; other controls would reach whoever reads the file (a terminal
# escape in `cat netcheck.prom`), so values go through sanitize.clean (one
# line). Lone surrogates (a saved report may hold "\ud800") cannot be UTF-8.
_SURROGATES = re.compile("[\ud800-\udfff]")


def label(value: object) -> str:
    """A label value as the file may carry it."""
    return _SURROGATES.sub("", sanitize.clean(value, None))


def unix_seconds(timestamp: str) -> float | None:
    """An RFC 3339 timestamp as Unix time; ``None`` if it is not one."""
    try:
        parsed = dt.datetime.fromisoformat(timestamp)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


def target_label(target: TargetResult) -> str:
    return target.ip if target.ip is not None else PROXY_TARGET


class _Metrics:
    """The run's gauges, registered in a registry of their own (one per render,
    so that nothing is left over from an earlier report in the same process)."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.run_timestamp = Gauge("netcheck_run_timestamp_seconds",
                                   "When the netcheck run finished, as Unix time.", registry=r)
        self.run_duration = Gauge("netcheck_run_duration_seconds",
                                  "Wall time of the netcheck run.", registry=r)
        self.run_interrupted = Gauge("netcheck_run_interrupted",
                                     "1 if the run was interrupted and the report is partial.",
                                     registry=r)
        self.run_status = Gauge("netcheck_run_status",
                                "1 for the run's overall status, 0 for the other statuses.",
                                ["status"], registry=r)
        self.endpoints = Gauge("netcheck_endpoints", "Number of endpoints with each status.",
                               ["status"], registry=r)
        self.findings = Gauge("netcheck_findings", "Number of findings of each severity.",
                              ["severity"], registry=r)
        self.endpoint_info = Gauge("netcheck_endpoint_info",
                                   "A catalogue endpoint that was checked (always 1).",
                                   ["endpoint", "host", "port", "probe", "required"],
                                   registry=r)
        self.endpoint_status = Gauge("netcheck_endpoint_status",
                                     "1 for the endpoint's status, 0 for the other statuses.",
                                     ["endpoint", "status"], registry=r)
        self.success = Gauge("netcheck_probe_success",
                             "1 if the phase passed (possibly with a warning), 0 if it failed.",
                             ["endpoint", "target", "phase"], registry=r)
        self.duration = Gauge("netcheck_phase_duration_seconds", "Time the phase took.",
                              ["endpoint", "target", "phase"], registry=r)
        self.phase_info = Gauge("netcheck_phase_info",
                                "The result code and status of every phase (always 1).",
                                ["endpoint", "target", "phase", "code", "status"], registry=r)
        self.cert_not_after = Gauge("netcheck_tls_cert_not_after_seconds",
                                    "Expiry of the certificate the target presented, "
                                    "as Unix time.", ["endpoint", "target"], registry=r)
        self.build_info = Gauge("netcheck_build_info", "The netcheck version (always 1).",
                                ["version"], registry=r)

    def phase(self, endpoint: EndpointResult, target: str, phase: PhaseResult) -> None:
        labels = (label(endpoint.name), label(target), label(phase.phase))
        self.phase_info.labels(*labels, label(phase.code), label(phase.status)).set(1)
        if phase.status == "skip":
            return
        self.success.labels(*labels).set(0 if phase.status == "fail" else 1)
        self.duration.labels(*labels).set(phase.duration_ms / 1000)
        not_after = phase.data.get("not_after") if phase.phase == "tls" else None
        expiry = unix_seconds(not_after) if isinstance(not_after, str) else None
        if expiry is not None:
            self.cert_not_after.labels(label(endpoint.name), label(target)).set(expiry)

    def endpoint(self, endpoint: EndpointResult) -> None:
        name = label(endpoint.name)
        self.endpoint_info.labels(name, label(endpoint.host), str(endpoint.port),
                                  label(endpoint.probe), str(endpoint.required).lower()).set(1)
        for status in STATUSES:
            self.endpoint_status.labels(name, status).set(int(endpoint.status == status))
        dns = endpoint.dns
        self.phase(endpoint, "", PhaseResult(phase="dns", status=dns.status, code=dns.code,
                                             duration_ms=dns.duration_ms))
        for target in endpoint.targets:
            for phase in target.phases:
                self.phase(endpoint, target_label(target), phase)


def registry(report: RunReport) -> CollectorRegistry:
    """The run's metrics, in a registry of their own: what :func:`render`
    writes, what ``netcheck.pushgateway.push`` sends, and the report part of
    ``netcheck serve``'s ``/metrics``."""
    m = _Metrics()
    finished = unix_seconds(report.finished_at)
    if finished is not None:
        m.run_timestamp.set(finished)
    m.run_duration.set(report.duration_ms / 1000)
    m.run_interrupted.set(int(report.interrupted))
    for status in STATUSES:
        m.run_status.labels(status).set(int(report.summary.status == status))
        m.endpoints.labels(status).set(sum(1 for e in report.endpoints if e.status == status))
    for severity in SEVERITIES:
        m.findings.labels(severity).set(sum(1 for f in report.findings
                                            if f.severity == severity))
    for endpoint in report.endpoints:
        m.endpoint(endpoint)
    m.build_info.labels(label(report.tool_version)).set(1)
    return m.registry


def render(report: RunReport) -> str:
    return generate_latest(registry(report)).decode("utf-8")


# -- exporter additions ---------------------------------------------------------
# ``netcheck serve`` adds these to /metrics and /probe. They are derived from the
# report alone, so they live here beside the others; they are not in the
# textfile (render) so that its output, which dashboards already read, stays
# exactly as it was.

def findings_by_code(report: RunReport) -> GaugeMetricFamily:
    """``netcheck_findings_by_code{code,severity}``: how many findings of each
    code the run produced. Every code that can be a finding is pre-initialised
    to 0 with its default severity (blackbox_exporter style), so an alert on a
    code has a series to compare with before the code first appears."""
    counts: dict[tuple[str, str], int] = {
        (c.code, c.severity): 0 for c in codes.CODES.values() if c.severity is not None}
    for f in report.findings:
        key = (label(f.code), label(f.severity))
        counts[key] = counts.get(key, 0) + 1
    family = GaugeMetricFamily("netcheck_findings_by_code",
                               "Number of findings of each result code in the run.",
                               labels=["code", "severity"])
    for (code, severity), n in counts.items():
        family.add_metric([code, severity], n)
    return family


def endpoint_success(report: RunReport) -> GaugeMetricFamily:
    """``netcheck_endpoint_success{endpoint,required}``: 1 if the endpoint passed
    (possibly with a warning), 0 if it failed or was skipped: the analogue of
    blackbox_exporter's ``probe_success``, one per endpoint."""
    family = GaugeMetricFamily("netcheck_endpoint_success",
                               "1 if the endpoint passed (possibly with a warning), 0 if not.",
                               labels=["endpoint", "required"])
    for e in report.endpoints:
        family.add_metric([label(e.name), str(e.required).lower()],
                          int(e.status in ("pass", "warn")))
    return family


def dns_unexpected(report: RunReport) -> GaugeMetricFamily:
    """``netcheck_dns_unexpected_address{endpoint,address}``: 1 for every DNS
    answer outside the endpoint's published list, so that an alert can name
    the address an IP allow rule does not cover."""
    family = GaugeMetricFamily("netcheck_dns_unexpected_address",
                               "A DNS answer that is not in the endpoint's published "
                               "addresses (always 1).", labels=["endpoint", "address"])
    for e in report.endpoints:
        for address in e.dns.unexpected:
            family.add_metric([label(e.name), label(address)], 1)
    return family


def exporter_families(report: RunReport) -> list[Metric]:
    """The exporter's report-derived additions, ready for a custom collector."""
    return [endpoint_success(report), findings_by_code(report), dns_unexpected(report)]
