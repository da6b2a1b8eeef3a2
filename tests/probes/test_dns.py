"""The DNS phase against a real DNS server on loopback (netcheck.lab.dns_server).

Every query goes to a lab server on 127.0.0.1 (or ::1); the system resolver
is never asked. Only ``system_resolvers()`` reads a resolv.conf, and the tests
give it their own file.
"""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from netcheck.lab.dns_server import LabDnsServer, ZoneEntry
from netcheck.probes import dns

TIMEOUT = 0.5

ZONE = {
    "ok.lab.netcheck.test": ZoneEntry(a=("127.0.0.1",), ttl=30),
    "two.lab.netcheck.test": ZoneEntry(a=("127.0.0.1", "127.0.0.2")),
    "dual.lab.netcheck.test": ZoneEntry(a=("127.0.0.1",), aaaa=("::1",)),
    "www.lab.netcheck.test": ZoneEntry(cname="edge.lab.netcheck.test", ttl=300),
    "edge.lab.netcheck.test": ZoneEntry(cname="origin.lab.netcheck.test.", ttl=120),
    "Origin.Lab.Netcheck.Test.": ZoneEntry(a=("127.0.0.7",), ttl=20),
    "dangling.lab.netcheck.test": ZoneEntry(cname="gone.lab.netcheck.test"),
    "nodata.lab.netcheck.test": ZoneEntry(),
    "servfail.lab.netcheck.test": ZoneEntry(rcode="SERVFAIL"),
    "refused.lab.netcheck.test": ZoneEntry(rcode="REFUSED"),
    "notimp.lab.netcheck.test": ZoneEntry(rcode="NOTIMP"),
    "silent.lab.netcheck.test": ZoneEntry(silent=True),
    "v6fail.lab.netcheck.test": ZoneEntry(a=("127.0.0.1",), aaaa_rcode="SERVFAIL"),
    "v6drop.lab.netcheck.test": ZoneEntry(a=("127.0.0.1",), aaaa_silent=True),
    "tc.lab.netcheck.test": ZoneEntry(a=("127.0.0.1",), truncate_udp=True),
    "many.lab.netcheck.test": ZoneEntry(many=300),
    "wrongid.lab.netcheck.test": ZoneEntry(a=("127.0.0.1",), wrong_id=True),
}


@pytest.fixture
async def server() -> AsyncIterator[LabDnsServer]:
    async with LabDnsServer(ZONE) as s:
        yield s


def free_udp_port() -> int:
    """A loopback UDP port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


# -- every code through a real server ----------------------------------------

async def test_ok_when_every_published_address_is_answered(server: LabDnsServer) -> None:
    # Given a name whose A record is exactly the published address
    # When the DNS phase resolves it
    result = await dns.resolve("ok.lab.netcheck.test", ("127.0.0.1",), (server.resolver,), TIMEOUT)
    # Then the code is dns.ok, and the answer's facts are in data
    assert (result.code, result.status) == ("dns.ok", "pass")
    assert result.detail == f"{server.address} answered 127.0.0.1, all published"
    assert result.addresses == ("127.0.0.1",)
    assert result.unexpected == () and result.missing == ()
    assert result.data["ttl"] == 30
    (entry,) = result.data["resolvers"]
    assert entry["server"] == server.address
    assert entry["A"]["code"] == "dns.ok" and entry["A"]["ttl"] == 30
    assert entry["AAAA"]["code"] == "dns.no_answer"
    assert entry["A"]["duration_ms"] > 0
    # And DNS was asked exactly once per record type
    assert server.queries == {("ok.lab.netcheck.test", "A"): 1,
                              ("ok.lab.netcheck.test", "AAAA"): 1}


async def test_unexpected_ip_names_the_address_and_the_published_list(
        server: LabDnsServer) -> None:
    # Given a name answering 127.0.0.1 and 127.0.0.2, of which only .1 is published
    # When the DNS phase resolves it
    result = await dns.resolve("two.lab.netcheck.test", ("127.0.0.1",), (server.resolver,), TIMEOUT)
    # Then the code is dns.unexpected_ip (warn), naming the resolver and both lists
    assert (result.code, result.status) == ("dns.unexpected_ip", "warn")
    assert result.detail == (f"{server.address} answered 127.0.0.2, which is not in the "
                             "published list (127.0.0.1)")
    assert result.unexpected == ("127.0.0.2",)
    assert result.missing == ()
    assert result.data["resolver"] == server.address


async def test_unexpected_ip_still_fills_missing(server: LabDnsServer) -> None:
    # Given a name answering 127.0.0.1 and ::1, published as 127.0.0.1 and 127.0.0.9
    # When the DNS phase resolves it
    result = await dns.resolve("dual.lab.netcheck.test", ("127.0.0.1", "127.0.0.9"),
                               (server.resolver,), TIMEOUT)
    # Then unexpected wins over missing, and missing is filled in anyway
    assert (result.code, result.status) == ("dns.unexpected_ip", "warn")
    assert result.unexpected == ("::1",)
    assert result.missing == ("127.0.0.9",)
    assert result.addresses == ("127.0.0.1", "::1")


async def test_missing_expected_is_informational(server: LabDnsServer) -> None:
    # Given a name answering one of its two published addresses
    # When the DNS phase resolves it
    result = await dns.resolve("ok.lab.netcheck.test", ("127.0.0.1", "127.0.0.3"),
                               (server.resolver,), TIMEOUT)
    # Then the code is dns.missing_expected, which leaves the status pass
    assert (result.code, result.status) == ("dns.missing_expected", "pass")
    assert result.detail == (f"{server.address} answered 127.0.0.1; published 127.0.0.3 was "
                             "not in the answer and is still probed")
    assert result.missing == ("127.0.0.3",)
    assert result.unexpected == ()


async def test_any_address_is_fine_without_a_published_list(server: LabDnsServer) -> None:
    # Given a CDN-like endpoint with no published addresses
    # When the DNS phase resolves it
    result = await dns.resolve("two.lab.netcheck.test", (), (server.resolver,), TIMEOUT)
    # Then whatever DNS answers is dns.ok
    assert (result.code, result.status) == ("dns.ok", "pass")
    assert result.detail == (f"{server.address} answered 127.0.0.1 and 127.0.0.2 "
                             "(no published list: any address is accepted)")
    assert result.unexpected == () and result.missing == ()


async def test_nxdomain(server: LabDnsServer) -> None:
    # Given a name the server does not know
    # When the DNS phase resolves it
    result = await dns.resolve("nope.lab.netcheck.test", ("127.0.0.1",), (server.resolver,),
                               TIMEOUT)
    # Then the code is dns.nxdomain and every published address is missing
    assert (result.code, result.status) == ("dns.nxdomain", "fail")
    assert result.detail == (f"{server.address} says nope.lab.netcheck.test does not exist "
                             "(NXDOMAIN)")
    assert result.addresses == ()
    assert result.missing == ("127.0.0.1",)
    assert result.data["resolver"] == server.address


async def test_nxdomain_behind_a_cname_keeps_the_chain(server: LabDnsServer) -> None:
    # Given a CNAME pointing at a name that does not exist
    # When the DNS phase resolves it
    result = await dns.resolve("dangling.lab.netcheck.test", (), (server.resolver,), TIMEOUT)
    # Then the code is dns.nxdomain and the detail shows where the chain led
    assert (result.code, result.status) == ("dns.nxdomain", "fail")
    assert result.detail == (f"{server.address} says dangling.lab.netcheck.test does not "
                             "exist (NXDOMAIN, via CNAME gone.lab.netcheck.test)")
    assert result.data["cname"] == ["gone.lab.netcheck.test"]


async def test_no_answer_when_the_name_has_no_address(server: LabDnsServer) -> None:
    # Given a name that exists but has no A or AAAA record (NODATA)
    # When the DNS phase resolves it
    result = await dns.resolve("nodata.lab.netcheck.test", ("127.0.0.1",), (server.resolver,),
                               TIMEOUT)
    # Then the code is dns.no_answer
    assert (result.code, result.status) == ("dns.no_answer", "fail")
    assert result.detail == (f"{server.address} has no A or AAAA record for "
                             "nodata.lab.netcheck.test")
    assert result.missing == ("127.0.0.1",)


@pytest.mark.parametrize("rcode", ["SERVFAIL", "REFUSED"])
async def test_servfail_and_refused(server: LabDnsServer, rcode: str) -> None:
    # Given a resolver that answers SERVFAIL (or REFUSED) for the name
    host = f"{rcode.lower()}.lab.netcheck.test"
    # When the DNS phase resolves it
    result = await dns.resolve(host, (), (server.resolver,), TIMEOUT)
    # Then the code is dns.servfail, naming the rcode
    assert (result.code, result.status) == ("dns.servfail", "fail")
    assert result.detail == f"{server.address} answered {rcode} for {host}"
    assert result.data["resolvers"][0]["A"]["error"] == rcode


async def test_timeout_when_the_server_never_answers(server: LabDnsServer) -> None:
    # Given a resolver that drops every query for the name
    # When the DNS phase resolves it with a short timeout
    started = time.monotonic()
    result = await dns.resolve("silent.lab.netcheck.test", ("127.0.0.1",),
                               (server.resolver,), 0.3)
    elapsed = time.monotonic() - started
    # Then the code is dns.timeout, within the timeout (A and AAAA run concurrently)
    assert (result.code, result.status) == ("dns.timeout", "fail")
    assert result.detail == (f"{server.address} did not answer for silent.lab.netcheck.test "
                             "within 0.3 s")
    assert 0.3 <= elapsed < 1.0
    assert server.queries[("silent.lab.netcheck.test", "A")] >= 1


async def test_timeout_when_nothing_listens_on_the_resolver_port() -> None:
    # Given a loopback port where no DNS server listens
    port = free_udp_port()
    # When the DNS phase asks it
    result = await dns.resolve("ok.lab.netcheck.test", (), (("127.0.0.1", port),), 0.3)
    # Then the code is dns.timeout: dnspython's UDP socket is unconnected, so
    # the ICMP port-unreachable never reaches it (see netcheck.probes.dns)
    assert (result.code, result.status) == ("dns.timeout", "fail")
    assert result.detail == (f"127.0.0.1:{port} did not answer for ok.lab.netcheck.test "
                             "within 0.3 s")


async def test_timeout_when_the_answer_has_the_wrong_id(server: LabDnsServer) -> None:
    # Given a server whose answers carry a message id that matches no query
    # When the DNS phase resolves through it
    result = await dns.resolve("wrongid.lab.netcheck.test", (), (server.resolver,), 0.3)
    # Then the stray answers are ignored (as spoofing protection requires)
    # and the query times out
    assert (result.code, result.status) == ("dns.timeout", "fail")
    assert server.queries[("wrongid.lab.netcheck.test", "A")] >= 1


async def test_error_for_another_rcode(server: LabDnsServer) -> None:
    # Given a resolver that answers NOTIMP (neither a failure to resolve nor a refusal)
    # When the DNS phase resolves through it
    result = await dns.resolve("notimp.lab.netcheck.test", (), (server.resolver,), TIMEOUT)
    # Then the code is dns.error, with the rcode in the detail
    assert (result.code, result.status) == ("dns.error", "fail")
    assert result.detail == (f"{server.address} could not resolve notimp.lab.netcheck.test: "
                             "answered NOTIMP")


async def test_error_for_a_name_dns_cannot_carry(server: LabDnsServer) -> None:
    # Given a host with a 64-character label (DNS allows 63)
    host = "a" * 64 + ".lab.netcheck.test"
    # When the DNS phase resolves it
    result = await dns.resolve(host, (), (server.resolver,), TIMEOUT)
    # Then the code is dns.error and nothing was sent
    assert (result.code, result.status) == ("dns.error", "fail")
    assert result.detail == (f"{server.address} could not resolve {host}: "
                             "A DNS label is > 63 octets long.")
    assert not server.queries


# -- answers in detail ----------------------------------------------------------

async def test_cname_chain_and_ttls_are_recorded(server: LabDnsServer) -> None:
    # Given www -> edge -> origin (A 127.0.0.7), with TTLs 300, 120 and 20
    # When the DNS phase resolves www, with a name in mixed case and a trailing dot
    result = await dns.resolve("WWW.lab.netcheck.test.", ("127.0.0.7",), (server.resolver,),
                               TIMEOUT)
    # Then the chain is recorded in order, and the TTL is the address record's
    assert (result.code, result.status) == ("dns.ok", "pass")
    assert result.data["cname"] == ["edge.lab.netcheck.test", "origin.lab.netcheck.test"]
    assert result.data["resolvers"][0]["A"]["cname"] == result.data["cname"]
    assert result.data["ttl"] == 20
    assert result.detail == (f"{server.address} answered 127.0.0.7 via CNAME "
                             "edge.lab.netcheck.test -> origin.lab.netcheck.test, all published")


@pytest.mark.parametrize(("host", "aaaa_code"), [
    ("v6fail.lab.netcheck.test", "dns.servfail"),
    ("v6drop.lab.netcheck.test", "dns.timeout"),
])
async def test_failed_aaaa_beside_a_good_a_is_only_noted(
        server: LabDnsServer, host: str, aaaa_code: str) -> None:
    # Given a name whose A answers and whose AAAA fails (SERVFAIL, or dropped)
    # When the DNS phase resolves it
    result = await dns.resolve(host, ("127.0.0.1",), (server.resolver,), 0.3)
    # Then the code is dns.ok; the AAAA failure is in data, not in the verdict
    assert (result.code, result.status) == ("dns.ok", "pass")
    assert result.detail == f"{server.address} answered 127.0.0.1, all published"
    assert result.data["resolvers"][0]["AAAA"]["code"] == aaaa_code
    (note,) = result.data["notes"]
    assert note.startswith(f"AAAA at {server.address}: {aaaa_code}")


async def test_two_resolvers_union_and_per_resolver_data() -> None:
    # Given two resolvers that disagree: one answers the published address, the other not
    async with LabDnsServer({"svc.lab.netcheck.test": ZoneEntry(a=("127.0.0.1",))}) as good, \
            LabDnsServer({"svc.lab.netcheck.test": ZoneEntry(a=("127.0.0.2",))}) as bad:
        # When the DNS phase asks both
        result = await dns.resolve("svc.lab.netcheck.test", ("127.0.0.1",),
                                   (good.resolver, bad.resolver), TIMEOUT)
        # Then targets come from the union, the other resolver is named, and
        # each resolver's answer is kept
        assert (result.code, result.status) == ("dns.unexpected_ip", "warn")
        assert result.addresses == ("127.0.0.1", "127.0.0.2")
        assert result.detail == (f"{bad.address} answered 127.0.0.2, which is not in the "
                                 "published list (127.0.0.1)")
        assert result.data["resolver"] == bad.address
        servers = [(r["server"], r["A"]["addresses"]) for r in result.data["resolvers"]]
        assert servers == [(good.address, ["127.0.0.1"]), (bad.address, ["127.0.0.2"])]
        assert good.queries[("svc.lab.netcheck.test", "A")] == 1
        assert bad.queries[("svc.lab.netcheck.test", "A")] == 1


async def test_one_resolver_failing_beside_a_good_one_is_only_noted(
        server: LabDnsServer) -> None:
    # Given a good resolver and one where nothing listens
    port = free_udp_port()
    # When the DNS phase asks both
    result = await dns.resolve("ok.lab.netcheck.test", ("127.0.0.1",),
                               (("127.0.0.1", port), server.resolver), 0.3)
    # Then the good answer decides; the dead resolver is noted per record type
    assert (result.code, result.status) == ("dns.ok", "pass")
    assert result.detail == f"{server.address} answered 127.0.0.1, all published"
    assert [r["A"]["code"] for r in result.data["resolvers"]] == ["dns.timeout", "dns.ok"]
    assert any(n.startswith(f"A at 127.0.0.1:{port}: dns.timeout") for n in result.data["notes"])


async def test_no_address_anywhere_takes_the_first_resolvers_a_outcome(
        server: LabDnsServer) -> None:
    # Given two resolvers that both fail: NXDOMAIN first, silence second
    port = free_udp_port()
    # When the DNS phase asks both
    result = await dns.resolve("nope.lab.netcheck.test", (),
                               (server.resolver, ("127.0.0.1", port)), 0.3)
    # Then the first resolver's A outcome is the code, and the detail names both
    assert (result.code, result.status) == ("dns.nxdomain", "fail")
    assert result.detail == (f"{server.address} says nope.lab.netcheck.test does not exist "
                             f"(NXDOMAIN); 127.0.0.1:{port} did not answer for "
                             "nope.lab.netcheck.test within 0.3 s")


async def test_truncated_udp_answer_is_retried_over_tcp(server: LabDnsServer) -> None:
    # Given a server that sets TC on every UDP answer for the name
    # When the DNS phase resolves it
    result = await dns.resolve("tc.lab.netcheck.test", ("127.0.0.1",), (server.resolver,),
                               TIMEOUT)
    # Then the client retried over TCP on the same port and got the answer
    assert (result.code, result.status) == ("dns.ok", "pass")
    assert server.tcp_queries[("tc.lab.netcheck.test", "A")] == 1
    assert server.queries[("tc.lab.netcheck.test", "A")] == 2  # UDP, then TCP


async def test_hundreds_of_records_arrive_over_tcp(server: LabDnsServer) -> None:
    # Given a name with 300 A and 300 AAAA records (far more than 512 bytes of UDP)
    # When the DNS phase resolves it
    result = await dns.resolve("many.lab.netcheck.test", (), (server.resolver,), TIMEOUT)
    # Then every address arrives (over TCP, after a truncated UDP answer)
    assert (result.code, result.status) == ("dns.ok", "pass")
    assert len(result.addresses) == 600
    # (sorted: an RRset's order on the wire means nothing)
    assert result.addresses[:2] == ("127.1.0.1", "127.1.0.2")
    assert result.addresses[299:301] == ("127.1.1.44", "fd00:6e63::1")
    assert result.addresses[-1] == "fd00:6e63::12c"
    assert server.tcp_queries[("many.lab.netcheck.test", "A")] == 1


async def test_ip_literal_resolves_to_itself_without_a_query(server: LabDnsServer) -> None:
    # Given an endpoint whose host is an IP address
    # When the DNS phase runs
    result = await dns.resolve("127.0.0.1", ("127.0.0.1",), (server.resolver,), TIMEOUT)
    # Then the address is its own answer and no query was sent
    assert (result.code, result.status) == ("dns.ok", "pass")
    assert result.addresses == ("127.0.0.1",)
    assert result.detail == "127.0.0.1 is an IP address; no DNS query was needed, all published"
    assert result.data["literal"] is True and result.data["resolvers"] == []
    assert not server.queries


async def test_ip_literal_outside_the_published_list(server: LabDnsServer) -> None:
    # Given an IPv6 literal host, written long-hand, that is not published
    # When the DNS phase runs
    result = await dns.resolve("[0:0::1]", ("127.0.0.1",), (server.resolver,), TIMEOUT)
    # Then it is normalised and reported as unexpected, with no query sent
    assert (result.code, result.status) == ("dns.unexpected_ip", "warn")
    assert result.addresses == ("::1",) and result.unexpected == ("::1",)
    assert result.detail == ("[0:0::1] is an IP address that is not in the published list "
                             "(127.0.0.1)")
    assert not server.queries


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback (::1) on this host")
async def test_resolver_on_ipv6_loopback() -> None:
    # Given a lab DNS server listening on ::1
    async with LabDnsServer({"ok.lab.netcheck.test": ZoneEntry(a=("127.0.0.1",))},
                            host="::1") as s:
        # When the DNS phase asks it
        result = await dns.resolve("ok.lab.netcheck.test", (), (s.resolver,), TIMEOUT)
    # Then it answers, and the resolver is named with brackets
    assert (result.code, result.status) == ("dns.ok", "pass")
    assert s.address == f"[::1]:{s.port}"
    assert result.data["resolvers"][0]["server"] == s.address


# -- the lab server itself ---------------------------------------------------------

async def test_lab_server_answers_udp_and_tcp_on_one_port(server: LabDnsServer) -> None:
    # Given the lab server
    # Then its UDP and TCP sockets share the port it reports
    assert server.port > 0
    assert server.address == f"127.0.0.1:{server.port}"
    # When a name is asked (UDP), and one is forced onto TCP by truncation
    await dns.query("ok.lab.netcheck.test", (server.resolver,), TIMEOUT)
    await dns.query("tc.lab.netcheck.test", (server.resolver,), TIMEOUT)
    # Then both transports were served
    assert server.queries[("ok.lab.netcheck.test", "A")] == 1
    assert server.tcp_queries[("tc.lab.netcheck.test", "AAAA")] == 1


def test_zone_entry_rejects_bad_data() -> None:
    # Given zone data with a typo
    # Then it fails when written, not as a puzzling answer later
    with pytest.raises(ValueError):
        ZoneEntry(a=("::1",))  # an IPv6 address in the A list
    with pytest.raises(ValueError):
        ZoneEntry(aaaa=("not-an-address",))
    with pytest.raises(ValueError, match="NOPE"):
        ZoneEntry(rcode="NOPE")


# -- pure logic: compare() ----------------------------------------------------------

def _answer(*resolvers: dns.ResolverAnswer, literal: str | None = None) -> dns.DnsAnswer:
    return dns.DnsAnswer(host="svc.lab.netcheck.test", timeout=1.0, resolvers=resolvers,
                         literal=literal)


def _ok(*addresses: str, ttl: int = 60) -> dns.RecordAnswer:
    return dns.RecordAnswer(code="dns.ok", addresses=addresses, ttl=ttl)


NODATA = dns.RecordAnswer(code="dns.no_answer", error="no record")


def test_compare_normalises_expected_addresses() -> None:
    # Given an answer ::1 and a published list written long-hand
    answer = _answer(dns.ResolverAnswer("127.0.0.1:53", a=NODATA, aaaa=_ok("::1")))
    # When compared
    result = dns.compare(answer, ("0:0:0:0:0:0:0:1",))
    # Then they are the same address
    assert (result.code, result.status) == ("dns.ok", "pass")
    assert result.expected_ips == ("::1",)


def test_compare_union_is_ordered_a_first_and_deduplicated() -> None:
    # Given two resolvers with overlapping answers
    answer = _answer(
        dns.ResolverAnswer("127.0.0.1:53", a=_ok("127.0.0.2", "127.0.0.1"), aaaa=_ok("::1")),
        dns.ResolverAnswer("127.0.0.2:53", a=_ok("127.0.0.1", "127.0.0.3"), aaaa=NODATA),
    )
    # When compared
    result = dns.compare(answer, ())
    # Then addresses keep first-seen order, every A before every AAAA
    assert result.addresses == ("127.0.0.2", "127.0.0.1", "127.0.0.3", "::1")
    assert result.detail == ("127.0.0.1:53 and 127.0.0.2:53 answered 127.0.0.2, 127.0.0.1, "
                             "127.0.0.3 and ::1 (no published list: any address is accepted)")


def test_compare_without_addresses_takes_the_a_outcome_not_the_aaaa() -> None:
    # Given A timing out and AAAA answering NODATA
    timeout = dns.RecordAnswer(code="dns.timeout", error="no answer within 1 s")
    answer = _answer(dns.ResolverAnswer(dns.SYSTEM, a=timeout, aaaa=NODATA,
                                        nameservers=("10.0.0.2",)))
    # When compared
    result = dns.compare(answer, ("127.0.0.1",))
    # Then the A outcome is the code, and the system resolver is named by its address
    assert (result.code, result.status) == ("dns.timeout", "fail")
    assert result.detail == ("the system resolver (10.0.0.2) did not answer for "
                             "svc.lab.netcheck.test within 1 s")
    assert result.data["resolver"] == "the system resolver (10.0.0.2)"
    assert result.data["resolvers"][0]["server"] == "system"
    assert result.data["resolvers"][0]["nameservers"] == ["10.0.0.2"]
    assert result.data["notes"] == ["AAAA at the system resolver (10.0.0.2): dns.no_answer "
                                    "(no record)"]
    assert result.missing == ("127.0.0.1",)


def test_compare_several_unexpected_addresses_and_min_ttl() -> None:
    # Given one resolver answering two unpublished addresses with different TTLs
    answer = _answer(dns.ResolverAnswer("127.0.0.1:53", a=_ok("127.0.0.8", "127.0.0.9", ttl=90),
                                        aaaa=_ok("::1", ttl=30)))
    # When compared with a list that has ::1 only
    result = dns.compare(answer, ("::1",))
    # Then both are named, in one sentence, and the TTL is the smallest
    assert (result.code, result.status) == ("dns.unexpected_ip", "warn")
    assert result.detail == ("127.0.0.1:53 answered 127.0.0.8 and 127.0.0.9, which are not "
                             "in the published list (::1)")
    assert result.data["ttl"] == 30


def test_compare_result_round_trips_through_the_report_model() -> None:
    # Given a compared answer
    answer = _answer(dns.ResolverAnswer("127.0.0.1:53", a=_ok("127.0.0.1"), aaaa=NODATA))
    result = dns.compare(answer, ("127.0.0.1", "127.0.0.2"))
    # When it is written as JSON data and loaded back
    again = type(result).from_dict(result.to_dict())
    # Then nothing is lost
    assert again == result
    assert result.code == "dns.missing_expected"


# -- the host section: system_resolvers() reads a file, sends nothing -------------------

def test_system_resolvers_reads_resolv_conf(tmp_path: Path) -> None:
    # Given a resolv.conf with two nameservers, a comment and options
    conf = tmp_path / "resolv.conf"
    conf.write_text("# generated\nsearch corp.example\nnameserver 10.0.0.2\n"
                    "nameserver fd00::53\noptions timeout:1\n")
    # When it is read
    # Then the nameservers are listed in order
    assert dns.system_resolvers(str(conf)) == ("10.0.0.2", "fd00::53")


def test_system_resolvers_without_a_file_is_empty(tmp_path: Path) -> None:
    # Given no resolv.conf at all
    # Then there are no system resolvers (and nothing raises)
    assert dns.system_resolvers(str(tmp_path / "missing")) == ()
