"""The TCP phase against real sockets: loopback lab servers, and network
namespaces this test creates for the outcomes loopback cannot produce
(no route, no IPv6). Nothing is ever sent outside loopback or those
namespaces."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import netcheck
from netcheck import codes
from netcheck.catalog import Endpoint
from netcheck.lab.tcp_servers import DroppingPort, RefusingPort, StreamServer
from netcheck.probes import tcp
from netcheck.probes.base import ProbeContext, ProbeOptions

HOST = "tcp.lab.netcheck.test"
REPO = Path(netcheck.__file__).resolve().parent.parent


def _ctx(ip: str, port: int, timeout: float = 1.0) -> ProbeContext:
    endpoint = Endpoint(name="lab-tcp", host=HOST, port=port, probe="tcp", timeout=timeout)
    return ProbeContext(endpoint=endpoint, ip=ip, options=ProbeOptions())


async def test_open_port_is_tcp_ok_with_one_connection() -> None:
    # Given a listening loopback server
    async with StreamServer() as server:
        # When the TCP phase runs
        result, conn = await tcp.run(_ctx(server.host, server.port))
        try:
            # Then it passes on one accepted connection, with both addresses
            assert result.code == "tcp.ok" and result.status == "pass"
            assert conn is not None
            assert result.data["remote"] == "127.0.0.1"
            assert result.data["remote_port"] == server.port
            assert result.data["local"] == "127.0.0.1" and result.data["local_port"] > 0
            assert f"Connected to 127.0.0.1:{server.port} from 127.0.0.1:" in result.detail
            await asyncio.sleep(0.05)
            assert server.accepted == 1
        finally:
            if conn is not None:
                await conn.aclose()


async def test_refused_port_is_tcp_refused() -> None:
    # Given a port where the kernel answers SYN with RST
    async with RefusingPort() as port:
        # When the TCP phase runs
        result, conn = await tcp.run(_ctx(port.host, port.port))
    # Then the code is tcp.refused, a failure, and the detail says refused
    assert conn is None
    assert (result.code, result.status) == ("tcp.refused", "fail")
    assert result.detail == f"TCP to 127.0.0.1:{port.port} failed: connection refused (RST)."
    assert result.data["errno"] == "ECONNREFUSED"


async def test_dropped_syn_is_tcp_timeout() -> None:
    # Given a port whose SYNs the kernel silently drops (full accept queue)
    async with DroppingPort() as port:
        # When the TCP phase runs with a 0.5 s timeout
        started = time.monotonic()
        result, conn = await tcp.run(_ctx(port.host, port.port, timeout=0.5))
        elapsed = time.monotonic() - started
        # Then it waited the whole timeout and reports tcp.timeout
        assert conn is None
        assert (result.code, result.status) == ("tcp.timeout", "fail")
        assert result.detail == (f"No answer from 127.0.0.1:{port.port} within 0.5 s "
                                 "(SYN unanswered).")
        assert 0.45 <= elapsed < 1.5
        assert port.accepted == 0


def test_reset_during_connect_maps_to_tcp_reset() -> None:
    # Mocked on purpose: Linux turns an RST that answers a SYN into
    # ECONNREFUSED (tcp_reset() in SYN_SENT), so no real socket here yields
    # ECONNRESET from connect(); other stacks (and a reset racing the
    # handshake) do, and it must read as tcp.reset.
    # Given the error a connect() raises when the connection is reset
    exc = ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")
    # When it is mapped
    code, reason = tcp.error_code(exc, ipv6=False)
    # Then it is tcp.reset
    assert (code, reason) == ("tcp.reset", "connection reset while opening")
    assert codes.status_of(code) == "fail"


def test_error_mapping_is_complete() -> None:
    # Given each errno a connect can end with / When mapped / Then the code
    def code(e: BaseException, ipv6: bool = False, routed: bool = True) -> str:
        return tcp.error_code(e, ipv6=ipv6, ipv6_routed=lambda: routed)[0]
    assert code(TimeoutError()) == "tcp.timeout"
    assert code(OSError(errno.ETIMEDOUT, "x")) == "tcp.timeout"
    assert code(OSError(errno.EHOSTUNREACH, "x")) == "tcp.unreachable"
    assert code(OSError(errno.ENETUNREACH, "x")) == "tcp.unreachable"
    assert code(OSError(errno.ENETUNREACH, "x"), ipv6=True, routed=True) == "tcp.unreachable"
    assert code(OSError(errno.ENETUNREACH, "x"), ipv6=True, routed=False) == \
        "tcp.family_unavailable"
    assert code(OSError(errno.EAFNOSUPPORT, "x"), ipv6=True, routed=False) == \
        "tcp.family_unavailable"
    assert code(OSError(errno.EACCES, "x")) == "tcp.error"


# -- network namespaces ------------------------------------------------------

_PROBE_SCRIPT = r"""
import asyncio, ipaddress, json, socket, sys
from netcheck.catalog import Endpoint
from netcheck.probes import tcp
from netcheck.probes.base import ProbeContext, ProbeOptions

# Refuse to run anywhere but a fresh namespace: only lo may exist.
names = sorted(n for _, n in socket.if_nameindex())
if names != ["lo"]:
    sys.exit(f"not an isolated network namespace: {names}")

async def main():
    out = {}
    for ip in sys.argv[1:]:
        ipaddress.ip_address(ip)  # literals only: never a name to resolve
        ep = Endpoint(name="ns", host="ns.lab.netcheck.test", port=443, probe="tcp",
                      timeout=1.0)
        result, conn = await tcp.run(ProbeContext(ep, ip, ProbeOptions()))
        if conn is not None:
            await conn.aclose()
        out[ip] = result.to_dict()
    print(json.dumps(out))

asyncio.run(main())
"""


def _in_netns(setup: str, *ips: str) -> dict[str, Any]:
    """Run the probe inside a new network namespace that has only ``lo``."""
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("needs root and ip/unshare to create a network namespace")
    # If unshare fails, nothing runs at all: the probe never sees the host's network.
    cmd = ["unshare", "--net", "--", "sh", "-c",
           f'set -e; ip link set lo up; {setup} exec "$0" -c "$@"',
           sys.executable, _PROBE_SCRIPT, *ips]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30, env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def test_no_route_is_tcp_unreachable_in_a_namespace() -> None:
    # Given a namespace with an 'unreachable' route (as a router's ICMP
    # unreachable would say), a network with no route at all, and a
    # 'prohibit' route (a local policy: EACCES)
    setup = ("ip route add unreachable 10.99.0.0/16; "
             "ip route add prohibit 10.97.0.0/16;")
    # When the TCP phase probes each
    out = _in_netns(setup, "10.99.0.1", "10.98.0.1", "10.97.0.1")
    # Then no route is tcp.unreachable, and the policy route tcp.error
    hostunreach, netunreach, prohibited = out["10.99.0.1"], out["10.98.0.1"], out["10.97.0.1"]
    assert (hostunreach["code"], hostunreach["status"]) == ("tcp.unreachable", "fail")
    assert hostunreach["detail"] == "TCP to 10.99.0.1:443 failed: No route to host."
    assert hostunreach["data"]["errno"] == "EHOSTUNREACH"
    assert (netunreach["code"], netunreach["status"]) == ("tcp.unreachable", "fail")
    assert netunreach["detail"] == ("TCP to 10.98.0.1:443 failed: no route to the network "
                                    "(Network is unreachable).")
    assert (prohibited["code"], prohibited["status"]) == ("tcp.error", "fail")
    assert prohibited["detail"] == "TCP to 10.97.0.1:443 failed: Permission denied."


def test_ipv6_target_without_ipv6_is_family_unavailable() -> None:
    # Given a namespace with no IPv6 route (an IPv4-only host, as far as
    # the IPv6 target is concerned)
    # When the TCP phase probes an IPv6 address
    out = _in_netns("", "fd00::1")["fd00::1"]
    # Then the target is skipped, with the reason
    assert (out["code"], out["status"]) == ("tcp.family_unavailable", "skip")
    assert out["detail"] == ("Skipped [fd00::1]:443: this host has no IPv6 connectivity "
                             "(Network is unreachable).")


def test_ipv6_disabled_is_family_unavailable() -> None:
    # Given a namespace where IPv6 is switched off altogether
    setup = "sysctl -qw net.ipv6.conf.all.disable_ipv6=1;"
    # When the TCP phase probes an IPv6 address
    out = _in_netns(setup, "fd00::1")["fd00::1"]
    # Then the target is skipped, naming the kernel's reason
    assert (out["code"], out["status"]) == ("tcp.family_unavailable", "skip")
    assert out["detail"].startswith("Skipped [fd00::1]:443: this host has no IPv6 connectivity")
    assert out["data"]["errno"] in ("EADDRNOTAVAIL", "ENETUNREACH", "EAFNOSUPPORT")


async def test_connect_helper_raises() -> None:
    # Given a refusing port / When connect() is used (runner: proxy, reconnect)
    async with RefusingPort() as port:
        # Then it raises instead of returning a result
        with pytest.raises(ConnectionRefusedError):
            await tcp.connect(port.host, port.port, 1.0)


def test_prober_registration() -> None:
    assert tcp.PROBER.phase == "tcp" and tcp.PROBER.timeout_code == "tcp.timeout"
    assert tcp.PROBER.run is tcp.run
