"""The whole pipeline against the loopback lab: every lab endpoint's verdict
comes out of real sockets, through the runner, as the lab guarantees it.

This is where each result code is proven end to end (code, status, and the
action a firewall team reads); the per-probe test modules prove the details.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest

from netcheck import codes
from netcheck.catalog import load_catalog, select
from netcheck.lab import SCENARIOS, Lab, codes_seen, system_store, verdict_mismatches
from netcheck.model import EndpointResult, RunReport
from netcheck.probes.base import ProbeOptions
from netcheck.render import json as json_render
from netcheck.reportschema import validate_report
from netcheck.runner import RunOptions, run_catalog


@pytest.fixture(scope="module")
def report(lab: Lab) -> Iterator[RunReport]:
    # Given the lab, with its enterprise CA in this process's system store
    with system_store(lab.system_bundle):
        catalog = load_catalog(lab.catalog_path)
        options = RunOptions(probe=ProbeOptions(resolvers=(lab.resolver,),
                                                ca_bundle=lab.ca_bundle))
        # When the real pipeline runs over the lab's catalogue
        yield asyncio.run(run_catalog(catalog, options))


def _endpoint(report: RunReport, name: str) -> EndpointResult:
    return next(e for e in report.endpoints if e.name == name)


def test_every_lab_verdict_is_reached(report: RunReport) -> None:
    # Then every endpoint gets the status and the code the lab guarantees
    assert verdict_mismatches(report) == []
    assert [e.name for e in report.endpoints] == [s.name for s in SCENARIOS]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_scenario_code_status_and_action(report: RunReport, scenario: object) -> None:
    from netcheck.lab import Scenario

    assert isinstance(scenario, Scenario)
    ep = _endpoint(report, scenario.name)
    # Then the code is there, with the endpoint status the lab guarantees
    assert scenario.code in codes_seen(ep)
    assert ep.status == scenario.status
    entry = codes.get(scenario.code)
    if entry.severity is None:
        return
    # And the finding carries the table's wording with the concrete values
    finding = next(f for f in ep.findings if f.code == scenario.code)
    assert finding.summary.startswith(entry.meaning)
    assert "?" not in finding.action.replace("?", "", 0) or "{" not in finding.action
    assert "{" not in finding.action
    if entry.phase in ("tcp", "tls", "ws", "http"):
        assert ep.host in finding.action or str(ep.port) in finding.action


def test_dns_drop_and_reset_actions_name_the_rule(report: RunReport, lab: Lab) -> None:
    # Then a dropped SYN asks for exactly the allow rule a firewall team writes
    dropped = _endpoint(report, "tcp-dropped")
    action = next(f.action for f in dropped.findings if f.code == "tcp.timeout")
    assert action == f"Allow outbound TCP {dropped.port} to 127.0.0.1 ({dropped.host})"
    # And an unpublished DNS answer names both fixes and the resolver
    unexpected = _endpoint(report, "dns-unexpected")
    assert unexpected.dns.unexpected == ("127.0.0.2",)
    action = next(f.action for f in unexpected.findings if f.code == "dns.unexpected_ip")
    assert "127.0.0.2" in action and lab.resolver_arg in action


def test_published_ip_is_probed_when_dns_fails(report: RunReport) -> None:
    # Given DNS that fails for a name with a published address
    ep = _endpoint(report, "dns-servfail")
    # Then the published address is still probed, and passes on its own
    assert [(t.ip, t.source, t.status) for t in ep.targets] == [("127.0.0.1", "expected", "pass")]
    assert ep.status == "fail"


def test_missing_expected_is_information_only(report: RunReport) -> None:
    ep = _endpoint(report, "dns-missing")
    assert ep.dns.missing == ("127.0.0.3",)
    assert {t.ip: t.source for t in ep.targets} == {"127.0.0.1": "both", "127.0.0.3": "expected"}
    assert ep.status == "pass"
    assert [f.severity for f in ep.findings if f.code == "dns.missing_expected"] == ["info"]


def test_phases_after_a_failure_are_skipped(lab: Lab) -> None:
    # Given a websocket and an HTTPS endpoint aimed at the refusing port, and
    # a websocket one at the server that resets after the ClientHello
    import dataclasses

    from netcheck.catalog import Catalog

    catalog = load_catalog(lab.catalog_path)
    refused = select(catalog, ["tcp-refused"], []).endpoints[0]
    reset = select(catalog, ["tls-reset"], []).endpoints[0]
    eps = (dataclasses.replace(refused, name="wss-refused", probe="wss"),
           dataclasses.replace(refused, name="https-refused", probe="https"),
           dataclasses.replace(reset, name="wss-reset", probe="wss"))
    options = RunOptions(probe=ProbeOptions(resolvers=(lab.resolver,), ca_bundle=lab.ca_bundle))
    # When they run
    report = asyncio.run(run_catalog(Catalog(catalog.source, catalog.sha256, eps), options))
    # Then every phase after the failed one is there, skipped
    phases = {e.name: [(p.phase, p.status, p.code) for p in e.targets[0].phases]
              for e in report.endpoints}
    assert phases == {
        "wss-refused": [("tcp", "fail", "tcp.refused"), ("tls", "skip", "skipped"),
                        ("websocket", "skip", "skipped")],
        "https-refused": [("tcp", "fail", "tcp.refused"), ("tls", "skip", "skipped"),
                          ("https", "skip", "skipped")],
        "wss-reset": [("tcp", "pass", "tcp.ok"), ("tls", "fail", "tls.reset"),
                      ("websocket", "skip", "skipped")],
    }


def test_each_phase_records_its_own_duration(report: RunReport) -> None:
    (target,) = _endpoint(report, "ws-ok").targets
    assert all(p.duration_ms > 0 for p in target.phases)
    dropped = _endpoint(report, "tcp-dropped").targets[0].phases[0]
    assert 1000 <= dropped.duration_ms < 1000 * (1.5 + 1.0)


def test_failed_certificate_facts_are_recorded(report: RunReport) -> None:
    # Given a certificate that failed verification
    tls = next(p for p in _endpoint(report, "tls-untrusted").targets[0].phases
               if p.phase == "tls")
    # Then its facts are in the result all the same (from a second handshake)
    for key in ("version", "cipher", "subject", "issuer", "san", "not_after", "sha256"):
        assert tls.data.get(key), key
    assert "netcheck lab unknown CA" in str(tls.data["issuer"])


def test_non_required_failure_does_not_fail_the_summary_alone(report: RunReport) -> None:
    ep = _endpoint(report, "optional-refused")
    assert ep.status == "fail" and not ep.required


def test_report_validates_and_round_trips(report: RunReport) -> None:
    text = json_render.render(report)
    doc = json.loads(text)
    assert validate_report(doc) == []
    assert RunReport.from_dict(doc) == report
    assert doc["schema"] == "netcheck.report/1"
    assert doc["findings"] == [f.to_dict() for f in report.findings]


def test_one_connection_per_target(lab: Lab) -> None:
    # Given a fresh selection of lab endpoints that pass through every phase
    names = ["ws-ok", "https-ok", "ws-no-pong", "ws-rejected"]
    before = {n: lab.accepted(n) for n in names}
    catalog = select(load_catalog(lab.catalog_path), names, [])
    options = RunOptions(probe=ProbeOptions(resolvers=(lab.resolver,), ca_bundle=lab.ca_bundle))
    # When they run
    report = asyncio.run(run_catalog(catalog, options))
    # Then each target cost exactly one TCP connection through all its phases
    assert {e.name: len(e.targets) for e in report.endpoints} == dict.fromkeys(names, 1)
    assert {n: lab.accepted(n) - before[n] for n in names} == dict.fromkeys(names, 1)


def test_dns_is_asked_once_per_host(lab: Lab) -> None:
    catalog = load_catalog(lab.catalog_path)
    ws_ok = select(catalog, ["ws-ok"], []).endpoints[0]
    import dataclasses

    from netcheck.catalog import Catalog

    twins = Catalog(catalog.source, catalog.sha256,
                    tuple(dataclasses.replace(ws_ok, name=f"twin-{i}") for i in range(5)))
    key = (ws_ok.host.lower().rstrip(".") + ".", "A")
    lab_dns = lab.dns
    before = sum(n for (name, rtype), n in lab_dns.queries.items()
                 if name.rstrip(".") == ws_ok.host and rtype == "A")
    options = RunOptions(probe=ProbeOptions(resolvers=(lab.resolver,), ca_bundle=lab.ca_bundle))
    asyncio.run(run_catalog(twins, options))
    after = sum(n for (name, rtype), n in lab_dns.queries.items()
                if name.rstrip(".") == ws_ok.host and rtype == "A")
    assert after - before == 1, key


def test_overall_deadline_bounds_the_run(lab: Lab) -> None:
    # Given three silent endpoints, one connection slot, and a deadline far
    # below what their timeouts would add up to
    import dataclasses
    import time

    from netcheck.catalog import Catalog

    catalog = load_catalog(lab.catalog_path)
    silent = select(catalog, ["tls-silent"], []).endpoints[0]
    three = Catalog(catalog.source, catalog.sha256,
                    tuple(dataclasses.replace(silent, name=f"silent-{i}") for i in range(3)))
    options = RunOptions(probe=ProbeOptions(resolvers=(lab.resolver,), ca_bundle=lab.ca_bundle,
                                            timeout=5.0),
                         concurrency=1, deadline=1.0)
    # When the run goes
    start = time.monotonic()
    report = asyncio.run(run_catalog(catalog=three, options=options))
    elapsed = time.monotonic() - start
    # Then it ends at the deadline, not after 3 x 5 s
    assert elapsed < 3.0
    first = report.endpoints[0].targets[0].phases
    assert [(p.phase, p.code) for p in first] == [("tcp", "tcp.ok"), ("tls", "tls.timeout")]
    assert "deadline of 1 s" in first[1].detail
    # And targets that never got a slot are skipped with the reason, not failed
    for ep in report.endpoints[1:]:
        (target,) = ep.targets
        assert target.status == "skip"
        assert "deadline" in target.phases[0].detail
    assert report.options["deadline"] == 1.0
