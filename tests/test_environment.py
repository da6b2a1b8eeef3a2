"""Environment facts (read from this machine's files and ``ip``; nothing sent)
and the clock compared with real HTTPS answers' Date headers."""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from netcheck import environment
from netcheck.catalog import load_catalog
from netcheck.lab.dns_server import LabDnsServer, ZoneEntry
from netcheck.lab.identity_server import IdentityServer
from netcheck.lab.pki import LabPki
from netcheck.model import PhaseResult, RunReport
from netcheck.probes.base import ProbeOptions
from netcheck.runner import RunOptions, run_catalog

HOST = "clock.lab.netcheck.test"


@pytest.fixture(scope="module")
def pki() -> Iterator[LabPki]:
    made = LabPki()
    yield made
    made.close()


# -- collect() -------------------------------------------------------------------------

def test_collect_gives_every_fact_json_ready_and_cheap() -> None:
    # Given this machine
    environment.collect(catalog_hosts=["localhost"], proxy_env={})  # warm imports
    # When the facts are collected
    t0 = time.perf_counter()
    facts = environment.collect(catalog_hosts=["localhost", "x.lab.netcheck.test"],
                                proxy_env={})
    elapsed_ms = (time.perf_counter() - t0) * 1000
    # Then every fact is there, as JSON, and it stays cheap (every report carries it)
    assert set(facts) == {"os", "python", "netcheck", "hostname", "network", "dns", "proxy",
                          "collected_in_ms"}
    json.dumps(facts)
    assert elapsed_ms < 250  # ~10 ms here; generous for a loaded CI machine
    assert facts["os"]["system"] == "Linux"
    assert facts["python"]["version"].count(".") == 2
    assert isinstance(facts["hostname"], str) and facts["hostname"]
    # /etc/hosts entries only for the catalogue's hosts
    assert set(facts["dns"]["hosts_entries"]) <= {"localhost"}


@pytest.mark.skipif(shutil.which("ip") is None, reason="needs the ip command (iproute2)")
def test_network_facts_from_ip_name_the_default_interface_and_its_mtu() -> None:
    # When read from `ip -j`
    facts = environment.network_facts()
    # Then loopback is listed with its address, and the default route's
    # interface (if this machine has one) comes with its MTU
    assert facts["source"] == "ip -j"
    lo = next(i for i in facts["interfaces"] if i["name"] == "lo")
    assert "127.0.0.1/8" in lo["addresses"]
    if facts["default_interface"] is not None:
        names = {i["name"]: i["mtu"] for i in facts["interfaces"]}
        assert facts["mtu"] == names[facts["default_interface"]]


def test_a_failing_fact_does_not_hide_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a fact whose source breaks (mocked: no real file makes os-release raise this)
    def broken() -> object:
        raise PermissionError("denied")

    monkeypatch.setattr(environment, "os_facts", broken)
    # When collected
    facts = environment.collect(catalog_hosts=[], proxy_env={})
    # Then that fact is an error and the others are there
    assert facts["os"] == {"error": "PermissionError: denied"}
    assert "interfaces" in facts["network"]


def test_proxy_variables_and_pac_url_are_redacted() -> None:
    # Given proxy variables with credentials and a PAC URL with a token
    env = {"HTTPS_PROXY": "http://alice:s3cret@proxy.corp.example:3128",
           "no_proxy": "localhost,.corp.example",
           "auto_proxy": "http://wpad.corp.example/proxy.pac?token=abc123",
           "UNRELATED": "x"}
    # When the proxy facts are collected
    facts = environment.collect(catalog_hosts=[], proxy_env=env)["proxy"]
    # Then they are shown without the secrets
    assert facts == {
        "variables": {"HTTPS_PROXY": "http://***@proxy.corp.example:3128",
                      "no_proxy": "localhost,.corp.example"},
        "pac": {"auto_proxy": "http://wpad.corp.example/proxy.pac?token=***"},
    }


def test_resolvers_search_domains_and_hosts_entries(tmp_path: Path) -> None:
    # Given resolv.conf, systemd-resolved's upstream file and a hosts file
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("# managed\nnameserver 127.0.0.53\nsearch a.example b.example\n"
                      "options edns0 trust-ad\n", encoding="utf-8")
    resolved = tmp_path / "resolved.conf"
    resolved.write_text("nameserver 10.0.0.2\nnameserver 10.0.0.3\ndomain corp.example\n",
                        encoding="utf-8")
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n10.9.9.9 svc.lab.netcheck.test  # pinned\n",
                     encoding="utf-8")
    # When the DNS facts are read
    facts = environment.dns_facts(("svc.lab.netcheck.test", "other.lab.netcheck.test"),
                                  resolv_conf=str(resolv), resolved_conf=str(resolved),
                                  hosts_file=str(hosts))
    # Then each is reported as the resolver reads it
    assert facts["resolv_conf"] == {"path": str(resolv), "nameservers": ["127.0.0.53"],
                                    "search": ["a.example", "b.example"],
                                    "options": ["edns0", "trust-ad"]}
    assert facts["systemd_resolved"]["nameservers"] == ["10.0.0.2", "10.0.0.3"]
    assert facts["systemd_resolved"]["search"] == ["corp.example"]
    assert facts["hosts_entries"] == {"svc.lab.netcheck.test": ["10.9.9.9"]}


def test_missing_resolv_conf_is_said(tmp_path: Path) -> None:
    facts = environment.dns_facts((), resolv_conf=str(tmp_path / "none"),
                                  resolved_conf=str(tmp_path / "none2"))
    assert facts["resolv_conf"]["error"] == "no such file"
    assert facts["systemd_resolved"] is None


def test_os_release_parsing() -> None:
    assert environment.parse_os_release(
        'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n# c\nVERSION_ID=\'12\'\n') \
        == {"PRETTY_NAME": "Debian GNU/Linux 12 (bookworm)", "ID": "debian", "VERSION_ID": "12"}


def test_route_parsers_without_ip() -> None:
    # Given /proc/net/route with two defaults and a link route (the fallback without `ip`)
    proc = ("Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\n"
            "wlan0\t00000000\t0100A8C0\t0003\t0\t0\t600\t00000000\t0\n"
            "eth0\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\n"
            "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\n")
    # Then the lowest-metric default wins, gateway decoded
    assert environment.default_route_from_proc(proc) == {
        "family": "inet", "interface": "eth0", "gateway": "192.0.2.1", "metric": 100}
    # and `ip -j route` likewise
    route = environment.default_route_from_ip(
        [{"dst": "default", "dev": "wlan0", "gateway": "192.168.0.1", "metric": 600},
         {"dst": "default", "dev": "eth0", "gateway": "192.0.2.1", "metric": 100}], "inet")
    assert route is not None and route["interface"] == "eth0"
    assert environment.default_route_from_ip([{"dst": "192.0.2.0/24", "dev": "eth0"}],
                                             "inet") is None


# -- clock_skew() through real HTTPS answers -------------------------------------------------

async def _report_against(pki: LabPki, tmp_path: Path, clock_offset: float) -> RunReport:
    catalog_path = tmp_path / "endpoints.yaml"
    async with IdentityServer(pki.server_context(HOST), {}, clock_offset=clock_offset) as srv, \
            LabDnsServer({HOST: ZoneEntry(a=("127.0.0.1",))}) as dns_server:
        catalog_path.write_text(
            f"version: 1\nendpoints:\n  - name: clock\n    host: {HOST}\n    port: {srv.port}\n"
            "    probe: https\n    path: /\n    expected_ips: [127.0.0.1]\n", encoding="utf-8")
        options = RunOptions(probe=ProbeOptions(timeout=1.0, ca_bundle=pki.ca_bundle,
                                                resolvers=(dns_server.resolver,)))
        return await run_catalog(load_catalog(catalog_path), options)


async def test_clock_five_minutes_behind_warns(pki: LabPki, tmp_path: Path) -> None:
    # Given an HTTPS server whose Date header is 5 minutes ahead of this clock
    report = await _report_against(pki, tmp_path, clock_offset=300)
    # When the clock is judged from the run
    skew = environment.clock_skew(report)
    # Then the skew is about +300 s and it warns, saying why it matters
    assert report.endpoints[0].targets[0].phases[-1].code == "http.ok"
    assert skew["status"] == "warn"
    assert skew["samples"] == 1
    # (Date has whole seconds; the receive time is known to within the run)
    margin = skew["uncertainty_s"]
    assert 300 - 1 - margin <= skew["median_skew_s"] <= 300 + margin
    assert skew["detail"].startswith(f"this clock is {abs(skew['median_skew_s']):.0f} s ")
    assert "behind the servers' Date headers" in skew["detail"]
    assert "breaks TLS certificate checks and token logins" in skew["detail"]


async def test_clock_in_step_is_ok(pki: LabPki, tmp_path: Path) -> None:
    # Given a server in step with this clock
    report = await _report_against(pki, tmp_path, clock_offset=0)
    # When judged / Then within a couple of seconds, and ok, from the phase's
    # own receive time (the https phase records received_at)
    skew = environment.clock_skew(report)
    assert skew["status"] == "ok"
    assert abs(skew["median_skew_s"]) <= 1 + skew["uncertainty_s"]
    assert skew["by_answer"][0]["method"] == "received_at"
    assert skew["uncertainty_s"] == 1


def _with_date(report: RunReport, date: str, received_at: str | None) -> RunReport:
    data = {"date": date, **({"received_at": received_at} if received_at else {})}
    phase = PhaseResult(phase="https", status="pass", code="http.ok", data=data)
    ep = report.endpoints[0]
    target = dataclasses.replace(ep.targets[0], phases=(phase,))
    return dataclasses.replace(report, endpoints=(dataclasses.replace(ep, targets=(target,)),))


async def test_received_at_makes_the_skew_exact_and_no_date_is_unknown(
        pki: LabPki, tmp_path: Path) -> None:
    # Given a real report, its phase data rewritten (pure: received_at is not
    # recorded by the probes yet) with a Date 2 minutes behind the receive time
    report = await _report_against(pki, tmp_path, clock_offset=0)
    exact = _with_date(report, "Fri, 04 Dec 2026 10:00:00 GMT", "2026-12-04T10:02:00.000Z")
    # When judged
    skew = environment.clock_skew(exact)
    # Then the skew is exact, negative (this clock ahead), and warns
    assert (skew["status"], skew["median_skew_s"], skew["uncertainty_s"]) == ("warn", -120, 1)
    assert "120 s ahead of" in skew["detail"]
    # and without any Date the clock is unknown, not "ok"
    assert environment.clock_skew(_with_date(report, "", None))["status"] == "unknown"
