"""The benchmark's server side, in a process of its own (pinned to the other
core by bench.py), so nothing it does is counted as the client's CPU.

It serves, all on 127.0.0.1:

* the lab DNS server (:class:`netcheck.lab.dns_server.LabDnsServer`) with
  ``h<i>.bench.lab.netcheck.test`` (i < --hosts) and
  ``drop<j>.bench.lab.netcheck.test`` (j < --drops), every name -> 127.0.0.1;
* a websockets echo server in plain TCP, the backend nginx proxies to;
* the same echo server behind TLS (``--cert``/``--key``), the stand-in for
  nginx when nginx is not installed (``--smoke`` without nginx);
* a :class:`netcheck.lab.tcp_servers.DroppingPort` whose SYNs go unanswered.

Protocol on stdin/stdout, one JSON line each: first the ports are printed;
then each ``queries`` line on stdin is answered with the DNS server's
counters, ``reset`` clears them; end of input stops everything.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import ssl
import sys
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from netcheck.lab.dns_server import LabDnsServer, ZoneEntry
from netcheck.lab.tcp_servers import DroppingPort

DOMAIN = "bench.lab.netcheck.test"


def zone(hosts: int, drops: int) -> dict[str, ZoneEntry]:
    entry = ZoneEntry(a=("127.0.0.1",), ttl=300)
    names = [f"h{i}.{DOMAIN}" for i in range(hosts)]
    names += [f"drop{j}.{DOMAIN}" for j in range(drops)]
    return dict.fromkeys(names, entry)


async def _echo(connection: ServerConnection) -> None:
    # blackbox_exporter's tcp prober hangs up right after the 101, without a
    # close frame: normal here, not worth a traceback.
    with contextlib.suppress(ConnectionClosed):
        async for message in connection:
            await connection.send(message)


def _queries(server: LabDnsServer) -> dict[str, Any]:
    return {"total": sum(server.queries.values()),
            "names": len({name for name, _ in server.queries}),
            "max_per_name_type": max(server.queries.values(), default=0)}


def _deepen_udp_buffer(server: LabDnsServer) -> None:
    """A client bursts up to 2 x --concurrency queries at once; with the
    default ~208 KiB receive buffer the kernel drops some (RcvbufErrors in
    /proc/net/snmp) and each costs dnspython a 2 s retry, which would be
    measured as netcheck's wall time. A real resolver sizes its buffer for
    this; so does the lab's stand-in (FORCE: root may pass rmem_max)."""
    transport = server._udp  # the benchmark reaches in; the lab has no knob for it
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None:
        return
    for option in (getattr(socket, "SO_RCVBUFFORCE", 33), socket.SO_RCVBUF):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, option, 8 * 1024 * 1024)
            return


async def main(args: argparse.Namespace) -> None:
    dns_server = LabDnsServer(zone(args.hosts, args.drops))
    await dns_server.start()
    _deepen_udp_buffer(dns_server)
    drop = DroppingPort()
    await drop.start()
    # ping_interval=None: the server never pings on its own, so what the
    # client measures is its own ping and the server's pong.
    plain = await serve(_echo, "127.0.0.1", 0, ping_interval=None, close_timeout=1,
                        compression=None, backlog=4096)
    tls_server = None
    ports: dict[str, int] = {
        "dns": dns_server.port, "drop": drop.port,
        "ws": plain.sockets[0].getsockname()[1]}
    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        tls_server = await serve(_echo, "127.0.0.1", 0, ssl=ctx, ping_interval=None,
                                 close_timeout=1, compression=None, backlog=4096)
        ports["wss"] = tls_server.sockets[0].getsockname()[1]
    print(json.dumps(ports), flush=True)
    loop = asyncio.get_running_loop()
    try:
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            if line.strip() == "queries":
                print(json.dumps(_queries(dns_server)), flush=True)
            elif line.strip() == "reset":
                dns_server.queries.clear()
                print("{}", flush=True)
    finally:
        for server in (plain, tls_server):
            if server is not None:
                server.close()
                await server.wait_closed()
        await drop.stop()
        await dns_server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=1)
    parser.add_argument("--drops", type=int, default=0)
    parser.add_argument("--cert", default="")
    parser.add_argument("--key", default="")
    asyncio.run(main(parser.parse_args()))
