"""Resolver comparison in the DNS phase: the OS resolver path (/etc/hosts,
through getaddrinfo) against direct DNS, and several --resolver answers side
by side.

The /etc/hosts override is made real without touching this machine's files:
a child process runs in a private mount namespace (``unshare -m``) where a
temporary hosts file, nsswitch.conf and resolv.conf are bind-mounted over
the system's. Its network is the host's, so it reaches the lab DNS server on
loopback; its resolv.conf names 127.0.0.1 only, so even a lookup that went
wrong could not send a packet beyond loopback.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from netcheck import diagnosis
from netcheck.catalog import load_catalog
from netcheck.lab.dns_server import LabDnsServer, ZoneEntry
from netcheck.probes import dns
from netcheck.probes.base import ProbeOptions
from netcheck.runner import RunOptions, run_catalog

HOST = "svc.lab.netcheck.test"
TIMEOUT = 0.5
NETCHECK = str(Path(sys.executable).parent / "netcheck")


@pytest.fixture
async def listener() -> AsyncIterator[int]:
    """A TCP port open on 127.0.0.1 and 127.0.0.5, for endpoints whose probe should pass."""
    first = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = first.sockets[0].getsockname()[1]
    second = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.5", port)
    try:
        yield port
    finally:
        for server in (first, second):
            server.close()
            await server.wait_closed()


def _catalog(tmp_path: Path, port: int, expected: str = "[127.0.0.1]") -> Path:
    path = tmp_path / "endpoints.yaml"
    path.write_text(f"version: 1\ndefaults:\n  timeout: {TIMEOUT}\nendpoints:\n"
                    f"  - name: svc\n    host: {HOST}\n    port: {port}\n    probe: tcp\n"
                    f"    expected_ips: {expected}\n", encoding="utf-8")
    return path


# -- several resolvers side by side ---------------------------------------------------

async def test_disjoint_answers_on_a_cdn_host_are_a_resolver_mismatch() -> None:
    # Given two resolvers answering a host without a published list with
    # addresses that have nothing in common (split-horizon DNS)
    async with LabDnsServer({HOST: ZoneEntry(a=("127.0.0.1",))}) as inside, \
            LabDnsServer({HOST: ZoneEntry(a=("127.0.0.9",))}) as outside:
        # When the DNS phase asks both
        result = await dns.resolve(HOST, (), (inside.resolver, outside.resolver), TIMEOUT)
    # Then the code is dns.resolver_mismatch (warn), naming who said what
    assert (result.code, result.status) == ("dns.resolver_mismatch", "warn")
    assert result.detail == (f"the resolvers disagree on {HOST}: {inside.address} answered "
                             f"127.0.0.1; {outside.address} answered 127.0.0.9")
    assert result.data["resolver"] == f"{inside.address}, {outside.address}"
    assert result.addresses == ("127.0.0.1", "127.0.0.9")  # both are probed
    assert result.data["also"] == []


async def test_a_filtering_resolver_saying_nxdomain_is_a_resolver_mismatch() -> None:
    # Given a resolver that answers and a filtering one that says NXDOMAIN
    async with LabDnsServer({HOST: ZoneEntry(a=("127.0.0.1",))}) as good, \
            LabDnsServer({HOST: ZoneEntry(rcode="NXDOMAIN")}) as filtering:
        # When the DNS phase asks both, the good one first
        result = await dns.resolve(HOST, ("127.0.0.1",), (good.resolver, filtering.resolver),
                                   TIMEOUT)
    # Then the published answer does not hide the disagreement
    assert (result.code, result.status) == ("dns.resolver_mismatch", "warn")
    assert result.detail == (f"the resolvers disagree on {HOST}: {good.address} answered "
                             f"127.0.0.1; {filtering.address} says {HOST} does not exist "
                             "(NXDOMAIN)")


async def test_overlapping_answers_agree() -> None:
    # Given two resolvers handing out overlapping subsets of one pool (a CDN rotating)
    async with LabDnsServer({HOST: ZoneEntry(a=("127.0.0.1", "127.0.0.2"))}) as one, \
            LabDnsServer({HOST: ZoneEntry(a=("127.0.0.2", "127.0.0.3"))}) as two:
        # When the DNS phase asks both
        result = await dns.resolve(HOST, (), (one.resolver, two.resolver), TIMEOUT)
    # Then they count as agreeing
    assert (result.code, result.status) == ("dns.ok", "pass")
    assert not any("disagree" in n for n in result.data["notes"])


async def test_a_silent_resolver_has_no_opinion() -> None:
    # Given a good resolver and one that never answers for the name
    async with LabDnsServer({HOST: ZoneEntry(a=("127.0.0.1",))}) as good, \
            LabDnsServer({HOST: ZoneEntry(silent=True)}) as silent:
        # When the DNS phase asks both
        result = await dns.resolve(HOST, ("127.0.0.1",), (good.resolver, silent.resolver), 0.3)
    # Then the timeout is only noted: a failure is not a different answer
    assert result.code == "dns.ok"
    assert any(n.startswith(f"A at {silent.address}: dns.timeout") for n in result.data["notes"])


async def test_aaaa_filtered_by_one_resolver_is_not_a_mismatch() -> None:
    # Given two resolvers agreeing on A, one of them filtering AAAA (NODATA)
    async with LabDnsServer({HOST: ZoneEntry(a=("127.0.0.1",), aaaa=("::1",))}) as full, \
            LabDnsServer({HOST: ZoneEntry(a=("127.0.0.1",), aaaa_rcode="NOERROR")}) as v4:
        # When the DNS phase asks both
        result = await dns.resolve(HOST, (), (full.resolver, v4.resolver), TIMEOUT)
    # Then that is not split DNS
    assert result.code == "dns.ok"


async def test_unexpected_ip_keeps_precedence_and_lists_the_mismatch_beside_it() -> None:
    # Given an internal resolver answering an unpublished address, a public one the published
    async with LabDnsServer({HOST: ZoneEntry(a=("127.0.0.1",))}) as public, \
            LabDnsServer({HOST: ZoneEntry(a=("127.0.0.2",))}) as internal:
        # When the DNS phase asks both
        result = await dns.resolve(HOST, ("127.0.0.1",), (public.resolver, internal.resolver),
                                   TIMEOUT)
    # Then dns.unexpected_ip decides, and the mismatch is in data.also and the notes
    assert result.code == "dns.unexpected_ip"
    assert result.data["also"] == ["dns.resolver_mismatch"]
    assert (f"the resolvers disagree on {HOST}: {public.address} answered 127.0.0.1; "
            f"{internal.address} answered 127.0.0.2") in result.data["notes"]


async def test_resolver_mismatch_finding_through_the_runner(tmp_path: Path,
                                                            listener: int) -> None:
    # Given a catalogue endpoint and two resolvers that disagree (one filtering it)
    catalog = load_catalog(_catalog(tmp_path, listener))
    async with LabDnsServer({HOST: ZoneEntry(a=("127.0.0.1",))}) as good, \
            LabDnsServer({HOST: ZoneEntry(rcode="NXDOMAIN")}) as filtering:
        # When the whole pipeline runs with both resolvers
        options = RunOptions(probe=ProbeOptions(timeout=TIMEOUT,
                                                resolvers=(good.resolver, filtering.resolver)))
        report = await run_catalog(catalog, options)
    # Then the endpoint warns with a finding whose action names both resolvers
    (ep,) = report.endpoints
    assert ep.status == "warn"
    (finding,) = [f for f in ep.findings if f.code == "dns.resolver_mismatch"]
    assert finding.severity == "warn"
    assert f"{good.address}, {filtering.address}" in finding.action
    assert "does not exist (NXDOMAIN)" in finding.summary


# -- the OS resolver path (/etc/hosts) --------------------------------------------------

def test_parse_hosts_reads_every_line_like_glibc() -> None:
    # Given a hosts file with comments, aliases, a scoped IPv6 address and junk
    text = ("127.0.0.1 localhost\n# 10.0.0.1 svc.lab.netcheck.test\n"
            f"10.0.0.2  other {HOST.upper()}. alias  # pinned\n"
            f"fe80::1%eth0 {HOST}\nnot-an-ip {HOST}\n10.0.0.2 {HOST}\n")
    # When parsed
    table = dns.parse_hosts(text)
    # Then names are case-insensitive, every matching line counts once, junk is ignored
    assert table[HOST] == ("10.0.0.2", "fe80::1")
    assert table["alias"] == ("10.0.0.2",)
    assert "10.0.0.1" not in [a for v in table.values() for a in v]


@pytest.mark.parametrize(("line", "local", "reason"), [
    ("hosts: files dns", True, ""),
    ("hosts:          files mdns4_minimal [NOTFOUND=return] dns", True, ""),
    ("hosts: mymachines myhostname files dns", True, ""),
    ("hosts: mymachines resolve [!UNAVAIL=return] files myhostname dns", False, "resolve"),
    ("hosts: dns files", False, "dns"),
    ("passwd: files", False, "no hosts line"),
])
def test_nsswitch_decides_whether_the_os_path_is_local(tmp_path: Path, line: str,
                                                       local: bool, reason: str) -> None:
    # Given an nsswitch.conf
    path = tmp_path / "nsswitch.conf"
    path.write_text(f"# comment\n{line}\n", encoding="utf-8")
    # When its hosts line is judged
    verdict, why = dns.files_answer_locally(dns.nsswitch_hosts(str(path)))
    # Then getaddrinfo is asked only when files come before any network source
    assert verdict is local
    assert reason in why


async def test_entry_behind_dns_in_nsswitch_is_reported_but_never_looked_up(
        tmp_path: Path) -> None:
    # Given a hosts file mapping the host elsewhere, and nsswitch asking dns first
    hosts = tmp_path / "hosts"
    hosts.write_text(f"127.0.0.5 {HOST}\n", encoding="utf-8")
    nsswitch = tmp_path / "nsswitch.conf"
    nsswitch.write_text("hosts: dns files\n", encoding="utf-8")
    async with LabDnsServer({HOST: ZoneEntry(a=("127.0.0.1",))}) as server:
        # When the DNS phase runs
        answer = await dns.query(HOST, (server.resolver,), TIMEOUT, hosts_file=str(hosts),
                                 nsswitch_file=str(nsswitch))
    result = dns.compare(answer, ("127.0.0.1",))
    # Then DNS decides (the file is only a fallback) and the entry is noted with why
    assert result.code == "dns.ok"
    assert result.addresses == ("127.0.0.1",)
    assert result.data["os"]["looked_up"] is False
    assert result.data["os"]["hosts_entries"] == ["127.0.0.5"]
    assert (f"/etc/hosts maps {HOST} to 127.0.0.5, but nsswitch.conf asks dns before files"
            in " ".join(result.data["notes"]))


async def test_other_files_than_the_systems_are_never_looked_up(tmp_path: Path) -> None:
    # Given a hosts file that is not /etc/hosts, and a files-first nsswitch
    hosts = tmp_path / "hosts"
    hosts.write_text(f"127.0.0.5 {HOST}\n", encoding="utf-8")
    nsswitch = tmp_path / "nsswitch.conf"
    nsswitch.write_text("hosts: files dns\n", encoding="utf-8")
    # When the OS path is considered
    answer = await dns.os_lookup(HOST, TIMEOUT, hosts_file=str(hosts),
                                 nsswitch_file=str(nsswitch))
    # Then getaddrinfo is not asked: it reads the real /etc/hosts and would
    # go on to the machine's DNS server for this name
    assert answer is not None
    assert (answer.looked_up, answer.addresses) == (False, ())
    assert "not the system's" in answer.reason


async def test_no_hosts_entry_means_no_os_path(tmp_path: Path) -> None:
    # Given a hosts file without the host
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n", encoding="utf-8")
    # When the OS path is considered
    # Then there is nothing to compare
    assert await dns.os_lookup(HOST, TIMEOUT, hosts_file=str(hosts)) is None


def _can_unshare() -> bool:
    return os.geteuid() == 0 and shutil.which("unshare") is not None \
        and shutil.which("mount") is not None


async def _in_mount_namespace(tmp_path: Path, hosts: str, nsswitch: str,
                              *command: str) -> tuple[int, str, str]:
    """Run ``command`` with these files over /etc/hosts and /etc/nsswitch.conf,
    and a resolv.conf naming only 127.0.0.1, in a private mount namespace."""
    files = {"hosts": hosts, "nsswitch.conf": nsswitch, "resolv.conf": "nameserver 127.0.0.1\n"}
    mounts = []
    for name, text in files.items():
        (tmp_path / f"ns-{name}").write_text(text, encoding="utf-8")
        mounts.append(f"mount --bind {tmp_path / f'ns-{name}'} /etc/{name}")
    # If a mount fails, the command never runs (set -e): nothing runs against
    # the machine's own files.
    script = "set -e; " + "; ".join(mounts) + '; exec "$@"'
    proc = await asyncio.create_subprocess_exec(
        "unshare", "-m", "--propagation", "private", "--", "sh", "-c", script, "sh", *command,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode or 0, out.decode(), err.decode()


@pytest.mark.skipif(not _can_unshare(), reason="needs root and unshare/mount for a private "
                                               "mount namespace over /etc/hosts")
async def test_hosts_override_through_the_real_os_path(tmp_path: Path, listener: int) -> None:
    # Given, in a private mount namespace, an /etc/hosts mapping the host to
    # 127.0.0.5 with files first in nsswitch, while the lab DNS answers 127.0.0.1
    async with LabDnsServer({HOST: ZoneEntry(a=("127.0.0.1",))}) as server:
        # When the installed netcheck runs there against the lab resolver
        code, out, err = await _in_mount_namespace(
            tmp_path, f"127.0.0.1 localhost\n127.0.0.5 {HOST}\n",
            "hosts: files dns\n",
            NETCHECK, "run", "--catalog", str(_catalog(tmp_path, listener)),
            "--resolver", server.address, "--format", "json", "--output", "-", "-q")
        direct_queries = server.queries[(HOST, "A")]
    # Then the DNS phase reports dns.hosts_override, saying which source gave what
    assert code == 0, err  # a warning only
    (ep,) = json.loads(out)["endpoints"]
    assert (ep["dns"]["code"], ep["dns"]["status"], ep["status"]) == (
        "dns.hosts_override", "warn", "warn")
    assert ep["dns"]["detail"] == (
        f"/etc/hosts maps {HOST} to 127.0.0.5 (127.0.0.5 is not in the published list), "
        "and the OS resolver path (getaddrinfo, which the product's apps use) returns it; "
        f"DNS differs: {server.address} answered 127.0.0.1")
    assert ep["dns"]["data"]["os"]["addresses"] == ["127.0.0.5"]
    assert ep["dns"]["data"]["also"] == ["dns.unexpected_ip"]
    # and the address the apps will use is probed too
    assert [t["ip"] for t in ep["targets"]] == ["127.0.0.1", "127.0.0.5"]
    (finding,) = [f for f in ep["findings"] if f["code"] == "dns.hosts_override"]
    assert finding["severity"] == "warn"
    assert f"/etc/hosts entry for {HOST}" in finding["action"]
    # and the lab was asked directly once (the OS path answered from the file)
    assert direct_queries == 1


@pytest.mark.skipif(not _can_unshare(), reason="needs root and unshare/mount for a private "
                                               "mount namespace over /etc/hosts")
async def test_hosts_entry_agreeing_with_dns_is_only_noted(tmp_path: Path) -> None:
    # Given an /etc/hosts entry that says what DNS says
    async with LabDnsServer({HOST: ZoneEntry(a=("127.0.0.1",))}) as server:
        probe = ("import asyncio, json, sys; from netcheck.probes import dns; "
                 f"a = asyncio.run(dns.query({HOST!r}, (('127.0.0.1', {server.port}),), "
                 f"{TIMEOUT})); r = dns.compare(a, ('127.0.0.1',)); "
                 "print(json.dumps(r.to_dict()))")
        # When the DNS phase runs in the namespace
        code, out, err = await _in_mount_namespace(
            tmp_path, f"127.0.0.1 {HOST}\n", "hosts: files dns\n", sys.executable, "-c", probe)
    # Then there is no override, and the agreement is noted
    assert code == 0, err
    result = json.loads(out)
    assert result["code"] == "dns.ok"
    assert result["data"]["os"]["looked_up"] is True
    assert f"/etc/hosts maps {HOST} to 127.0.0.1; the OS resolver path agrees with DNS" \
        in result["data"]["notes"]


@pytest.mark.skipif(not _can_unshare(), reason="needs root and unshare/mount for a private "
                                               "mount namespace over /etc/hosts")
async def test_hosts_entry_rescues_a_name_dns_does_not_know(tmp_path: Path) -> None:
    # Given DNS saying NXDOMAIN, and an /etc/hosts entry with the published address
    async with LabDnsServer({HOST: ZoneEntry(rcode="NXDOMAIN")}) as server:
        probe = ("import asyncio, json; from netcheck.probes import dns; "
                 f"a = asyncio.run(dns.query({HOST!r}, (('127.0.0.1', {server.port}),), "
                 f"{TIMEOUT})); print(json.dumps(dns.compare(a, ('127.0.0.1',)).to_dict()))")
        # When the DNS phase runs in the namespace
        code, out, err = await _in_mount_namespace(
            tmp_path, f"127.0.0.1 {HOST}\n", "hosts: files dns\n", sys.executable, "-c", probe)
    # Then the apps resolve it (through the file): an override, not an NXDOMAIN failure
    assert code == 0, err
    result = json.loads(out)
    assert (result["code"], result["status"]) == ("dns.hosts_override", "warn")
    assert result["detail"].endswith(f"DNS differs: {server.address} says {HOST} does not "
                                     "exist (NXDOMAIN)")
    assert result["addresses"] == ["127.0.0.1"]


def test_finding_for_hosts_override_is_worded_from_the_table() -> None:
    # Given a DNS result with an override (pure: the wording path only)
    answer = dns.DnsAnswer(
        host=HOST, timeout=1.0,
        resolvers=(dns.ResolverAnswer("127.0.0.1:53", a=dns.RecordAnswer(
            code="dns.ok", addresses=("127.0.0.1",)), aaaa=dns.RecordAnswer(
            code="dns.no_answer")),),
        os=dns.OsAnswer(hosts_entries=("127.0.0.1", "::1"), nsswitch=("files", "dns"),
                        looked_up=True, addresses=("127.0.0.1", "::1")))
    result = dns.compare(answer, ("127.0.0.1",))
    # When diagnosed
    findings = diagnosis.findings_for(name="svc", host=HOST, port=443, dns=result, targets=())
    # Then the override's finding comes first and names the resolver DNS came
    # from; what else held (the hosts file's ::1 is unpublished) follows it
    f = findings[0]
    assert [x.code for x in findings[1:]] == list(result.data["also"])
    assert f.code == "dns.hosts_override"
    assert "(127.0.0.1:53)" in f.action
