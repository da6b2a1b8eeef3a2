"""The HTTPS phase against real lab servers on loopback, over real TLS.

Each test connects like the runner (TCP, then TLS on the same streams), hands
the connection to the probe and checks code, status, detail and data, and
that the probe never opened a connection of its own (``accepted == 1``).
The block-page table is also tested as a pure function.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest
from appkit import API_HOST, Ran, context, run_probe

from netcheck import __version__
from netcheck.catalog import Endpoint
from netcheck.lab.app_servers import (
    CloseAfterTlsServer,
    GarbageServer,
    HttpsServer,
    HugeHeaderServer,
    Route,
    SilentServer,
)
from netcheck.lab.pki import LabPki
from netcheck.probes import https

S = TypeVar("S")
Start = Callable[..., Awaitable[Any]]


@pytest.fixture(scope="module")
def pki() -> Iterator[LabPki]:
    lab = LabPki()
    yield lab
    lab.close()


@pytest.fixture
async def lab(pki: LabPki) -> AsyncIterator[Start]:
    """Start lab servers presenting a vendor-issued certificate for API_HOST."""
    started: list[Any] = []

    async def start(cls: type[S], *args: Any, **kwargs: Any) -> S:
        server = cls(pki.server_context(API_HOST), *args, **kwargs)  # type: ignore[call-arg]
        await server.start()  # type: ignore[attr-defined]
        started.append(server)
        return server

    yield start
    for server in started:
        await server.stop()


async def probe(pki: LabPki, server: Any, **kwargs: Any) -> Ran:
    kwargs.setdefault("timeout", 2.0)
    ran = await run_probe(https.run, pki, server.port, API_HOST, probe="https", **kwargs)
    assert ran.same_connection
    assert ran.result.phase == "https"
    return ran


def test_prober_is_registered_with_its_timeout_code() -> None:
    assert https.PROBER.phase == "https"
    assert https.PROBER.timeout_code == "http.timeout"
    assert https.PROBER.run is https.run


async def test_200_is_ok_with_the_facts_later_phases_need(pki: LabPki, lab: Start) -> None:
    # Given an HTTPS origin answering 200 with a Date header
    server = await lab(HttpsServer)
    # When the https phase runs
    ran = await probe(pki, server)
    # Then it passes and records status, version, server and the Date (for clock skew)
    r = ran.result
    assert (r.code, r.status) == ("http.ok", "pass")
    assert r.detail == "HTTP 200 OK (Server: lab-origin)"
    assert r.data["status"] == 200
    assert r.data["reason"] == "OK"
    assert r.data["http_version"] == "1.1"
    assert r.data["server"] == "lab-origin"
    assert r.data["via"] is None
    assert r.data["content_type"] == "text/plain"
    assert email.utils.parsedate_to_datetime(r.data["date"]).tzinfo is not None
    assert r.data["headers"]["date"] == r.data["date"]
    assert r.data["headers"]["content-length"] == str(len(b"netcheck lab origin\n"))
    assert 0 <= r.data["body_bytes_read"] <= len(b"netcheck lab origin\n")
    assert server.accepted == 1
    # And the request was one GET with the endpoint's Host (port, not 443), UA, close
    (request,) = server.requests
    assert (request.method, request.target) == ("GET", "/")
    assert request.headers["host"] == f"{API_HOST}:{server.port}"
    assert request.headers["user-agent"] == f"netcheck/{__version__}"
    assert request.headers["connection"] == "close"


async def test_any_status_passes_without_expect_status(pki: LabPki, lab: Start) -> None:
    # Given an origin answering 403 on the path (no proxy signature)
    server = await lab(HttpsServer)
    # When the https phase runs with no expect_status
    ran = await probe(pki, server, path="/forbidden")
    # Then any HTTP answer proves the path open
    assert (ran.result.code, ran.result.status) == ("http.ok", "pass")
    assert ran.result.detail == "HTTP 403 Forbidden (Server: lab-origin)"
    assert ran.result.data["status"] == 403


async def test_status_outside_expect_status_is_unexpected(pki: LabPki, lab: Start) -> None:
    # Given an origin answering 403, and a catalogue expecting 200 or 204
    server = await lab(HttpsServer)
    # When the https phase runs
    ran = await probe(pki, server, path="/forbidden", expect_status=(200, 204))
    # Then the status is unexpected, and the detail says what was expected
    r = ran.result
    assert (r.code, r.status) == ("http.unexpected_status", "fail")
    assert r.detail == "HTTP 403 Forbidden (Server: lab-origin); expected 200, 204"
    assert r.data["expected"] == [200, 204]
    assert server.accepted == 1


async def test_listed_status_passes(pki: LabPki, lab: Start) -> None:
    # Given an origin answering 404 on an unknown path, listed as expected
    server = await lab(HttpsServer)
    # When the https phase runs
    ran = await probe(pki, server, path="/nope", expect_status=(404,))
    # Then it passes
    assert (ran.result.code, ran.result.data["status"]) == ("http.ok", 404)


async def test_squid_block_page_is_proxy_block(pki: LabPki, lab: Start) -> None:
    # Given a squid-style block page (403, X-Squid-Error, Server: squid)
    server = await lab(HttpsServer)
    # When the https phase runs with no expect_status
    ran = await probe(pki, server, path="/block")
    # Then it is a proxy block naming the product and the evidence
    r = ran.result
    assert (r.code, r.status) == ("http.proxy_block", "fail")
    assert r.detail == ("HTTP 403 Forbidden is a Squid block page "
                        "(x-squid-error: ERR_ACCESS_DENIED 0), not the vendor's answer")
    assert r.data["filter"] == "Squid"
    assert r.data["headers"]["x-squid-error"] == "ERR_ACCESS_DENIED 0"
    assert r.data["via"] == "1.1 proxy.lab.netcheck.test (squid/6.10)"
    assert server.accepted == 1


async def test_block_page_known_only_by_its_body(pki: LabPki, lab: Start) -> None:
    # Given a 403 whose headers are bland but whose body is squid's error template
    server = await lab(HttpsServer)
    # When the https phase runs
    ran = await probe(pki, server, path="/block-body")
    # Then the body (read for this candidate only, bounded) identifies the block page
    r = ran.result
    assert (r.code, r.status) == ("http.proxy_block", "fail")
    assert r.detail == ("HTTP 403 Forbidden is a Squid block page "
                        "(body contains 'err_access_denied'), not the vendor's answer")
    assert 0 < r.data["body_bytes_read"] <= https.MAX_BODY_BYTES


async def test_block_page_outside_expect_status_is_proxy_block(pki: LabPki, lab: Start) -> None:
    # Given a block page, and a catalogue expecting 200
    server = await lab(HttpsServer)
    # When the https phase runs
    ran = await probe(pki, server, path="/block", expect_status=(200,))
    # Then proxy_block wins over unexpected_status: its action is the fix
    assert ran.result.code == "http.proxy_block"


async def test_listed_status_is_never_a_block_page(pki: LabPki, lab: Start) -> None:
    # Given a block-page-looking answer whose status the catalogue explicitly lists
    server = await lab(HttpsServer)
    # When the https phase runs with expect_status [403]
    ran = await probe(pki, server, path="/block", expect_status=(403,))
    # Then explicit configuration overrules the heuristic
    assert (ran.result.code, ran.result.status) == ("http.ok", "pass")


async def test_silent_server_is_http_timeout(pki: LabPki, lab: Start) -> None:
    # Given a server that completes TLS and never answers
    server = await lab(SilentServer)
    # When the https phase runs with a 0.5 s budget
    ran = await probe(pki, server, timeout=0.5)
    # Then it is http.timeout after about the budget
    r = ran.result
    assert (r.code, r.status) == ("http.timeout", "fail")
    assert r.detail == "No HTTP response head within 0.5 s (0 bytes received)"
    assert 0.45 <= ran.seconds < 1.5
    assert server.accepted == 1


async def test_close_before_response_is_http_error(pki: LabPki, lab: Start) -> None:
    # Given a server that closes right after TLS
    server = await lab(CloseAfterTlsServer)
    # When the https phase runs
    ran = await probe(pki, server)
    # Then it is http.error, quickly
    r = ran.result
    assert (r.code, r.status) == ("http.error", "fail")
    assert r.detail == ("The connection closed before a complete HTTP response "
                        "(0 bytes received)")
    assert ran.seconds < 1.0
    assert server.accepted == 1


async def test_garbage_is_http_error(pki: LabPki, lab: Start) -> None:
    # Given a server answering bytes that are not HTTP
    server = await lab(GarbageServer)
    # When the https phase runs
    ran = await probe(pki, server)
    # Then it is http.error on the first bytes, not at the timeout
    r = ran.result
    assert (r.code, r.status) == ("http.error", "fail")
    assert r.detail == ("Invalid HTTP response: the answer does not start with HTTP/: "
                        "b'\\x16\\x03\\x01 this is not HTTP \\xff\\xfe\\r\\n\\r\\n'")
    assert ran.seconds < 1.0


async def test_invalid_status_line_is_http_error(pki: LabPki, lab: Start) -> None:
    # Given a server whose status line starts like HTTP but is not valid
    server = await lab(HugeHeaderServer, size=0, status_line=b"HTTP/1.1 two hundred OK\r\n")
    # When the https phase runs
    ran = await probe(pki, server)
    # Then h11's verdict is the detail
    r = ran.result
    assert (r.code, r.status) == ("http.error", "fail")
    assert r.detail.startswith("Invalid HTTP response: illegal status line")


async def test_endless_headers_are_cut_at_64_kib(pki: LabPki, lab: Start) -> None:
    # Given a server sending a status line, then up to 100 MB of header lines
    server = await lab(HugeHeaderServer)
    # When the https phase runs
    ran = await probe(pki, server)
    # Then it gives up after about 64 KiB of head, quickly
    r = ran.result
    assert (r.code, r.status) == ("http.error", "fail")
    assert r.detail.startswith("Invalid HTTP response: ")
    assert r.data["bytes_received"] <= https.MAX_HEAD_BYTES + https.READ_CHUNK
    assert ran.seconds < 1.0
    # And the server got nowhere near sending it all (only socket buffers' worth)
    assert server.bytes_sent < 16 * 1024 * 1024


async def test_large_body_is_not_read(pki: LabPki, lab: Start) -> None:
    # Given an origin answering 200 with a 5 MB body
    body = b"x" * (5 * 1024 * 1024)
    server = await lab(HttpsServer, routes={"/": Route(200, (), body)})
    # When the https phase runs
    ran = await probe(pki, server)
    # Then it passes on the head and reads at most a little of the body
    r = ran.result
    assert r.code == "http.ok"
    assert r.data["body_bytes_read"] <= https.MAX_BODY_BYTES
    assert r.data["headers"]["content-length"] == str(len(body))


async def test_probe_without_connection_is_a_bug() -> None:
    # Given no connection (the runner never calls an app phase without one)
    ctx = context(API_HOST, 8021, probe="https")
    # When the https phase runs / Then it raises: that is a bug, not an outcome
    with pytest.raises(TypeError):
        await https.run(ctx, None)


# -- pure functions -------------------------------------------------------------


@pytest.mark.parametrize(("status", "headers", "body", "product"), [
    (403, [("X-Squid-Error", "ERR_ACCESS_DENIED 0")], b"", "Squid"),
    (407, [("Server", "squid/5.7")], b"", "Squid"),
    (403, [("X-Zscaler-Transaction-Id", "abc")], b"", "Zscaler"),
    (451, [("Via", "1.1 proxy (BlueCoat SGOS)")], b"", "Blue Coat"),
    (403, [("Server", "FortiGate")], b"", "FortiGate"),
    (511, [], b"<title>FortiGuard Web Filtering</title>", "FortiGate"),
    # Not block pages: a bare Via (CDNs add one), product names on a 200 or a 404
    (403, [("Via", "1.1 abc.cloudfront.net (CloudFront)")], b"", None),
    (200, [("Server", "squid/5.7")], b"", None),
    (404, [("X-Squid-Error", "ERR_INVALID_URL 0")], b"", None),
    (403, [("Server", "nginx")], b"Access denied", None),
])
def test_block_page_signatures(status: int, headers: list[tuple[str, str]], body: bytes,
                               product: str | None) -> None:
    # Given an answer / When it is checked against the table / Then the product (or none)
    found = https.block_page(status, headers, body)
    assert (found.product if found else None) == product


@pytest.mark.parametrize(("host", "port", "header"), [
    ("api.example.test", 443, "api.example.test"),
    ("api.example.test", 8021, "api.example.test:8021"),
    ("2001:db8::1", 443, "[2001:db8::1]"),
    ("2001:db8::1", 8021, "[2001:db8::1]:8021"),
])
def test_host_header(host: str, port: int, header: str) -> None:
    endpoint = Endpoint(name="e", host=host, port=port, probe="https")
    assert https.host_header(endpoint) == header


def test_header_subset_keeps_fingerprints_and_bounds_values() -> None:
    kept = https.header_subset([("Server", "a" * 1000), ("Set-Cookie", "secret"),
                                ("X-Zscaler-Id", "1"), ("Via", "1.1 a"), ("via", "1.1 b")])
    assert kept == {"server": "a" * 256, "x-zscaler-id": "1", "via": "1.1 a, 1.1 b"}


async def test_the_answer_records_when_it_was_received(pki: LabPki, lab: Start) -> None:
    # Given an HTTPS origin answering with a Date header
    server = await lab(HttpsServer)
    # When the https phase runs
    before = dt.datetime.now(dt.UTC) - dt.timedelta(milliseconds=1)  # received_at is truncated
    ran = await probe(pki, server)
    after = dt.datetime.now(dt.UTC)
    # Then this host's receive time sits next to the Date, RFC 3339 UTC with ms and Z
    received_at = ran.result.data["received_at"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", received_at)
    assert before <= dt.datetime.fromisoformat(received_at[:-1] + "+00:00") <= after
    assert ran.result.data["date"] is not None
