"""The websocket phase against real lab servers on loopback, over real TLS.

Each test connects like the runner (TCP, then TLS on the same streams), hands
the connection to the probe and checks code, status, detail and data, and
that the probe never opened a connection of its own (``accepted == 1``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest
from appkit import WS_HOST, Ran, run_probe

from netcheck import __version__
from netcheck.lab.app_servers import (
    CloseAfterTlsServer,
    GarbageServer,
    HugeHeaderServer,
    SilentServer,
    StreamTlsServer,
    WsBadAcceptServer,
    WsCloseFrameServer,
    WsEchoServer,
    WsFloodServer,
    WsGarbageFramesServer,
    WsHugeFrameServer,
    WsNoPongServer,
    WsPongAndCloseServer,
    WsRejectServer,
)
from netcheck.lab.pki import LabPki
from netcheck.probes import websocket

S = TypeVar("S")
Start = Callable[..., Awaitable[Any]]


@pytest.fixture(scope="module")
def pki() -> Iterator[LabPki]:
    lab = LabPki()
    yield lab
    lab.close()


@pytest.fixture
async def lab(pki: LabPki) -> AsyncIterator[Start]:
    """Start lab servers presenting a vendor-issued certificate for WS_HOST."""
    started: list[Any] = []

    async def start(cls: type[S], *args: Any, **kwargs: Any) -> S:
        server = cls(pki.server_context(WS_HOST), *args, **kwargs)  # type: ignore[call-arg]
        await server.start()  # type: ignore[attr-defined]
        started.append(server)
        return server

    yield start
    for server in started:
        await server.stop()


async def probe(pki: LabPki, server: Any, **kwargs: Any) -> Ran:
    kwargs.setdefault("timeout", 2.0)
    ran = await run_probe(websocket.run, pki, server.port, WS_HOST, probe="wss", **kwargs)
    assert ran.same_connection
    assert ran.result.phase == "websocket"
    return ran


def test_prober_is_registered_with_its_timeout_code() -> None:
    assert websocket.PROBER.phase == "websocket"
    assert websocket.PROBER.timeout_code == "ws.timeout"
    assert websocket.PROBER.run is websocket.run


async def test_echo_server_upgrade_ping_pong_and_clean_close(pki: LabPki, lab: Start) -> None:
    # Given a real websocket server behind a verified TLS connection
    server = await lab(WsEchoServer)
    # When the websocket phase runs on a non-default path
    ran = await probe(pki, server, path="/ws/v1?client=netcheck")
    # Then the upgrade, the ping/pong and the close all succeed on one connection
    r = ran.result
    assert (r.code, r.status) == ("ws.ok", "pass")
    assert r.detail.startswith("Upgraded (HTTP 101 Switching Protocols), pong in ")
    assert "closed cleanly" in r.detail
    assert r.data["upgraded"] is True
    assert r.data["status"] == 101
    assert r.data["subprotocol"] is None
    assert r.data["rtt_ms"] > 0
    assert r.data["close_reply"] is True
    assert r.data["close_code"] == 1000
    assert server.accepted == 1
    # And the request named the endpoint's host (with its port, not 443) and path
    (request,) = server.requests
    assert request.target == "/ws/v1?client=netcheck"
    assert request.headers["host"] == f"{WS_HOST}:{server.port}"
    assert request.headers["user-agent"] == f"netcheck/{__version__}"


async def test_unasked_messages_before_the_pong_are_skipped(pki: LabPki, lab: Start) -> None:
    # Given a real websocket server that greets every client with a message
    server = await lab(WsEchoServer, greeting="welcome to the lab")
    # When the websocket phase runs
    ran = await probe(pki, server)
    # Then the greeting is skipped and the pong still found
    assert (ran.result.code, ran.result.data["close_code"]) == ("ws.ok", 1000)
    assert server.accepted == 1


async def test_pong_and_server_close_in_one_read_is_ok(pki: LabPki, lab: Start) -> None:
    # Given a server whose pong and close frame (1001) arrive together
    server = await lab(WsPongAndCloseServer)
    # When the websocket phase runs
    ran = await probe(pki, server)
    # Then it passes, with the server's close recorded (nothing left to send)
    r = ran.result
    assert (r.code, r.status) == ("ws.ok", "pass")
    assert (r.data["close_reply"], r.data["close_code"]) == (True, 1001)


async def test_upgrade_answered_403_is_rejected_with_server_and_via(
        pki: LabPki, lab: Start) -> None:
    # Given a filter that answers websocket upgrades with 403
    server = await lab(WsRejectServer)
    # When the websocket phase runs
    ran = await probe(pki, server)
    # Then it is rejected, naming the status and who answered
    r = ran.result
    assert (r.code, r.status) == ("ws.rejected", "fail")
    assert r.detail == ("The websocket upgrade was refused: HTTP 403 Forbidden "
                        "(Server: lab-filter, Via: 1.1 lab-filter)")
    assert r.data["status"] == 403
    assert r.data["reason"] == "Forbidden"
    assert r.data["server"] == "lab-filter"
    assert r.data["via"] == "1.1 lab-filter"
    assert r.data["upgraded"] is False
    assert server.accepted == 1


async def test_listed_non_101_status_passes_without_upgrade(pki: LabPki, lab: Start) -> None:
    # Given an origin answering 404 on the path, which the catalogue lists as reachable
    server = await lab(WsRejectServer, status=404, server_header="lab-origin", headers=())
    # When the websocket phase runs with expect_status [101, 404]
    ran = await probe(pki, server, expect_status=(101, 404))
    # Then it passes, saying the upgrade itself was not confirmed
    r = ran.result
    assert (r.code, r.status) == ("ws.ok", "pass")
    assert r.detail == ("HTTP 404 Not Found answered, which the catalogue lists as reachable; "
                        "the websocket upgrade was not confirmed")
    assert r.data["upgraded"] is False
    assert r.data["status"] == 404
    assert r.data["server"] == "lab-origin"
    assert r.data["via"] is None
    assert server.accepted == 1


async def test_status_outside_expect_status_is_rejected(pki: LabPki, lab: Start) -> None:
    # Given an origin answering 404, and a catalogue expecting only 101 or 403
    server = await lab(WsRejectServer, status=404, server_header="lab-origin", headers=())
    # When the websocket phase runs
    ran = await probe(pki, server, expect_status=(101, 403))
    # Then the 404 is a rejection
    assert (ran.result.code, ran.result.status) == ("ws.rejected", "fail")
    assert ran.result.detail == ("The websocket upgrade was refused: HTTP 404 Not Found "
                                 "(Server: lab-origin)")


async def test_101_counts_even_when_expect_status_lists_only_other_answers(
        pki: LabPki, lab: Start) -> None:
    # Given a real websocket server, and a catalogue listing only 404
    server = await lab(WsEchoServer)
    # When the websocket phase runs
    ran = await probe(pki, server, expect_status=(404,))
    # Then a completed upgrade still passes: it proves more than any error answer
    assert (ran.result.code, ran.result.data["upgraded"]) == ("ws.ok", True)


async def test_upgrade_without_pong_is_no_pong(pki: LabPki, lab: Start) -> None:
    # Given a middlebox that lets the upgrade through but eats every frame
    server = await lab(WsNoPongServer)
    # When the websocket phase runs with a 0.5 s budget
    ran = await probe(pki, server, timeout=0.5)
    # Then it is no_pong (not a timeout), within the budget
    r = ran.result
    assert (r.code, r.status) == ("ws.no_pong", "fail")
    assert r.detail == ("The upgrade succeeded but no pong came within 0.5 s: "
                        "frames after the upgrade are dropped")
    assert r.data["upgraded"] is True
    assert r.data["status"] == 101
    assert r.data["server"] == "lab-ws"
    assert 0.45 <= ran.seconds < 1.5
    assert server.accepted == 1


async def test_squid_refusing_the_upgrade_is_named(pki: LabPki, lab: Start) -> None:
    # Given an upgrade refused with squid's fingerprints
    server = await lab(WsRejectServer, server_header="squid/6.10",
                       headers=(("X-Squid-Error", "ERR_ACCESS_DENIED 0"),))
    # When the websocket phase runs
    ran = await probe(pki, server)
    # Then the rejection names the filter (same table as the https phase)
    r = ran.result
    assert (r.code, r.data["filter"]) == ("ws.rejected", "Squid")
    assert r.detail == ("The websocket upgrade was refused: HTTP 403 Forbidden "
                        "(Server: squid/6.10); this is a Squid block page "
                        "(x-squid-error: ERR_ACCESS_DENIED 0)")


async def test_frames_without_end_and_no_pong_is_no_pong_within_a_read_bound(
        pki: LabPki, lab: Start) -> None:
    # Given a server that upgrades, then floods small text frames and never pongs
    server = await lab(WsFloodServer)
    # When the websocket phase runs with a generous budget
    ran = await probe(pki, server, timeout=5.0)
    # Then it stops after 1 MiB of other frames, well before the timeout
    r = ran.result
    assert (r.code, r.status) == ("ws.no_pong", "fail")
    assert r.detail == ("The upgrade succeeded but 1024 KiB of other frames arrived "
                        "without the pong")
    assert r.data["bytes_received"] <= websocket.MAX_BYTES_AWAITING_PONG + 64 * 1024
    assert ran.seconds < 2.0


async def test_silent_server_is_ws_timeout(pki: LabPki, lab: Start) -> None:
    # Given a server that completes TLS and never answers the upgrade
    server = await lab(SilentServer)
    # When the websocket phase runs with a 0.5 s budget
    ran = await probe(pki, server, timeout=0.5)
    # Then it is ws.timeout, after about the budget and no more
    r = ran.result
    assert (r.code, r.status) == ("ws.timeout", "fail")
    assert r.detail == ("No answer to the websocket upgrade request within 0.5 s "
                        "(0 bytes received)")
    assert r.data["upgraded"] is False
    assert 0.45 <= ran.seconds < 1.5
    assert server.accepted == 1


async def test_close_right_after_tls_is_ws_closed(pki: LabPki, lab: Start) -> None:
    # Given a server that closes the connection as soon as TLS is up
    server = await lab(CloseAfterTlsServer)
    # When the websocket phase runs
    ran = await probe(pki, server)
    # Then it is ws.closed, quickly
    r = ran.result
    assert (r.code, r.status) == ("ws.closed", "fail")
    assert r.detail == ("The connection was closed before the answer to the upgrade "
                        "request was complete (0 bytes received)")
    assert ran.seconds < 1.0
    assert server.accepted == 1


async def test_close_frame_before_pong_is_ws_closed_with_code(pki: LabPki, lab: Start) -> None:
    # Given a server that upgrades, then closes the websocket at once (1008)
    server = await lab(WsCloseFrameServer)
    # When the websocket phase runs
    ran = await probe(pki, server)
    # Then it is ws.closed with the close code
    r = ran.result
    assert (r.code, r.status) == ("ws.closed", "fail")
    assert r.detail == "The server closed the websocket (1008 lab policy) before answering the ping"
    assert r.data["close_code"] == 1008
    assert r.data["upgraded"] is True


@pytest.mark.parametrize(("server_cls", "detail"), [
    (GarbageServer, "The answer to the websocket upgrade broke the protocol: the answer "
                    "does not start with HTTP/: b'\\x16\\x03\\x01 this is not HTTP "
                    "\\xff\\xfe\\r\\n\\r\\n'"),
    (WsBadAcceptServer, "The answer to the websocket upgrade broke the protocol: invalid "
                        "Sec-WebSocket-Accept header: bm90IHRoZSByaWdodCBrZXk="),
    (WsGarbageFramesServer, "The server sent invalid websocket frames: invalid opcode"),
])
async def test_broken_answers_are_protocol_errors(
        pki: LabPki, lab: Start, server_cls: type[StreamTlsServer], detail: str) -> None:
    # Given a server whose answer breaks HTTP or the websocket protocol
    server = await lab(server_cls)
    # When the websocket phase runs
    ran = await probe(pki, server)
    # Then it is ws.protocol_error, at once rather than at the timeout
    r = ran.result
    assert (r.code, r.status) == ("ws.protocol_error", "fail")
    assert r.detail == detail
    assert ran.seconds < 1.0
    assert server.accepted == 1


async def test_endless_response_head_is_cut_at_64_kib(pki: LabPki, lab: Start) -> None:
    # Given a server sending a status line, then up to 100 MB of header lines
    server = await lab(HugeHeaderServer, status_line=b"HTTP/1.1 101 Switching Protocols")
    # When the websocket phase runs
    ran = await probe(pki, server)
    # Then it gives up after 64 KiB of head: a protocol error, not a timeout
    r = ran.result
    assert (r.code, r.status) == ("ws.protocol_error", "fail")
    assert r.detail == ("The answer to the websocket upgrade broke the protocol: more than "
                        "64 KiB before the end of the response head")
    assert r.data["bytes_received"] <= 64 * 1024 + 16 * 1024
    assert ran.seconds < 1.0
    # And the server got nowhere near sending it all (only socket buffers' worth)
    assert server.bytes_sent < 16 * 1024 * 1024


async def test_100_mb_frame_is_refused_on_its_header(pki: LabPki, lab: Start) -> None:
    # Given a server that upgrades, then starts a 100 MB frame
    server = await lab(WsHugeFrameServer)
    # When the websocket phase runs
    ran = await probe(pki, server)
    # Then the frame is refused on its length field, without reading its payload
    r = ran.result
    assert (r.code, r.status) == ("ws.protocol_error", "fail")
    assert r.detail == ("The server sent a frame larger than the 64 KiB netcheck reads: "
                        "frame with 104857600 bytes exceeds limit of 65536 bytes")
    assert r.data["upgraded"] is True
    assert r.data["bytes_received"] < 1024 * 1024
    assert ran.seconds < 1.0
    await asyncio.sleep(0)
    assert server.bytes_sent < 16 * 1024 * 1024


async def test_probe_without_connection_is_a_bug() -> None:
    # Given no connection (the runner never calls an app phase without one)
    from appkit import context
    ctx = context(WS_HOST, 443, probe="wss")
    # When the websocket phase runs / Then it raises: that is a bug, not an outcome
    with pytest.raises(TypeError):
        await websocket.run(ctx, None)


RFC3339_MS_Z = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def _received(data: dict[str, Any]) -> dt.datetime:
    assert re.fullmatch(RFC3339_MS_Z, data["received_at"]), data["received_at"]
    return dt.datetime.fromisoformat(data["received_at"][:-1] + "+00:00")


async def test_the_101_records_its_date_and_when_it_was_received(
        pki: LabPki, lab: Start) -> None:
    # Given a real websocket server (websockets' own 101 carries a Date header)
    server = await lab(WsEchoServer)
    # When the websocket phase runs
    before = dt.datetime.now(dt.UTC) - dt.timedelta(milliseconds=1)  # received_at is truncated
    ran = await probe(pki, server)
    after = dt.datetime.now(dt.UTC)
    # Then the answer's Date and this host's receive time (RFC 3339 UTC, ms, Z) are kept,
    # the pair the clock-skew check compares
    data = ran.result.data
    assert ran.result.code == "ws.ok"
    assert email.utils.parsedate_to_datetime(data["date"]).tzinfo is not None
    assert before <= _received(data) <= after


async def test_a_101_without_date_still_records_when_it_was_received(
        pki: LabPki, lab: Start) -> None:
    # Given a server whose 101 has no Date header (then a close frame)
    server = await lab(WsCloseFrameServer)
    # When the websocket phase runs
    ran = await probe(pki, server)
    # Then date is None, and the receive time is still recorded
    assert ran.result.code == "ws.closed"
    assert ran.result.data["date"] is None
    _received(ran.result.data)
