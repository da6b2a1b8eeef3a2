"""A loopback lab of real servers, one per failure mode, for ``netcheck demo``
and the test suite.

Every server listens on 127.0.0.0/8; the lab's DNS server answers for
``*.lab.netcheck.test`` (``.test`` is reserved, so no real resolver is ever
asked); certificates are made at start (:mod:`.pki`). The lab writes a
catalogue of its own and knows, for each of its endpoints, the verdict the
real pipeline must reach: ``netcheck demo`` runs the pipeline and checks it.

The lab runs in a thread with its own event loop, so the probes under test
share nothing with the servers but the sockets between them.

Not in the lab, because no loopback socket can produce them: ``tcp.unreachable``
(needs a route that does not exist: the test suite makes it inside a network
namespace) and the ``proxy.*`` codes (``netcheck demo`` runs direct; the test
suite runs them through a real squid).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import argparse

    from netcheck.model import EndpointResult, RunReport

DOMAIN = "lab.netcheck.test"
LAB_TIMEOUT = 1.5  # per phase; the lab's silent servers each cost one of these


class _Server(Protocol):
    port: int

    async def start(self) -> None: ...
    async def stop(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Scenario:
    """One lab endpoint: how it is served and the verdict it must get."""

    name: str
    probe: str  # wss | https | tls | tcp
    status: str  # the endpoint status the pipeline must reach
    code: str  # a code that must appear among its DNS and phase results
    purpose: str
    path: str = "/"
    expect_status: tuple[int, ...] | None = None
    min_version: str | None = None
    expected_ips: tuple[str, ...] = ("127.0.0.1",)
    required: bool = True

    @property
    def host(self) -> str:
        return f"{self.name}.{DOMAIN}"


# name, probe, status, code, purpose (+ options): the lab's whole repertoire.
SCENARIOS: tuple[Scenario, ...] = (
    Scenario("ws-ok", "wss", "pass", "ws.ok", "A websocket that upgrades, pongs and closes"),
    Scenario("ws-not-upgraded", "wss", "pass", "ws.ok",
             "An origin answering 404 to the upgrade: listed in expect_status, so the "
             "path is proven open but the upgrade unconfirmed",
             path="/no-such-socket", expect_status=(101, 404)),
    Scenario("https-ok", "https", "pass", "http.ok", "An HTTPS origin answering 200"),
    Scenario("dns-unexpected", "tls", "warn", "dns.unexpected_ip",
             "DNS answers 127.0.0.2, which is not published"),
    Scenario("dns-missing", "tls", "pass", "dns.missing_expected",
             "DNS omits the published 127.0.0.3 (still probed)",
             expected_ips=("127.0.0.1", "127.0.0.3")),
    Scenario("dns-nxdomain", "tls", "fail", "dns.nxdomain", "A name DNS says does not exist",
             expected_ips=()),
    Scenario("dns-servfail", "tls", "fail", "dns.servfail",
             "DNS fails (SERVFAIL); the published IP is still probed"),
    Scenario("dns-noanswer", "tls", "fail", "dns.no_answer", "A name with no address record",
             expected_ips=()),
    Scenario("dns-timeout", "tls", "fail", "dns.timeout", "A name whose queries go unanswered",
             expected_ips=()),
    Scenario("tcp-refused", "tcp", "fail", "tcp.refused", "A port where the kernel answers RST"),
    Scenario("tcp-dropped", "tcp", "fail", "tcp.timeout", "A port whose SYNs go unanswered"),
    Scenario("tls-reset", "tls", "fail", "tls.reset", "A server that resets after ClientHello"),
    Scenario("tls-silent", "tls", "fail", "tls.timeout", "A server that never answers"),
    Scenario("tls-plain-http", "tls", "fail", "tls.protocol_error", "Plain HTTP on a TLS port"),
    Scenario("tls-expired", "tls", "fail", "tls.expired", "An expired certificate"),
    Scenario("tls-not-yet-valid", "tls", "fail", "tls.not_yet_valid",
             "A certificate valid only from the day after tomorrow"),
    Scenario("tls-wrong-host", "tls", "fail", "tls.hostname_mismatch",
             "A certificate for another name"),
    Scenario("tls-untrusted", "tls", "fail", "tls.untrusted", "A certificate from an unknown CA"),
    Scenario("tls-enterprise-ca", "tls", "fail", "tls.intercepted",
             "A private CA only the system store trusts (an inspecting firewall)"),
    Scenario("tls-inspection-name", "tls", "fail", "tls.intercepted",
             "A CA named like an inspection product"),
    Scenario("tls-expiring", "tls", "warn", "tls.expiring_soon",
             "A certificate expiring in 3 days"),
    Scenario("tls-old-version", "tls", "fail", "tls.version",
             "A TLS 1.2 server where the endpoint requires 1.3", min_version="1.3"),
    Scenario("ws-rejected", "wss", "fail", "ws.rejected", "A filter answering 403 to upgrades"),
    Scenario("ws-no-pong", "wss", "fail", "ws.no_pong",
             "An upgrade that succeeds, then frames are eaten"),
    Scenario("ws-silent", "wss", "fail", "ws.timeout", "TLS, then no answer to the upgrade"),
    Scenario("ws-closed", "wss", "fail", "ws.closed", "A server closing right after TLS"),
    Scenario("ws-garbage", "wss", "fail", "ws.protocol_error", "A server answering garbage"),
    Scenario("http-forbidden", "https", "fail", "http.unexpected_status",
             "An origin answering 403 where 200 is expected", path="/forbidden",
             expect_status=(200,)),
    Scenario("http-block-page", "https", "fail", "http.proxy_block",
             "A web filter's block page", path="/block"),
    Scenario("http-silent", "https", "fail", "http.timeout", "TLS, then no HTTP answer"),
    Scenario("http-garbage", "https", "fail", "http.error", "A server answering garbage"),
    Scenario("optional-refused", "tcp", "fail", "tcp.refused",
             "A non-required endpoint failing (does not fail the run)", required=False),
)


def _yaml_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class Lab:
    """Start with :meth:`start` (in the lab's event loop), stop with :meth:`stop`."""

    workdir: Path
    ports: dict[str, int] = field(default_factory=dict)
    servers: dict[str, list[Any]] = field(default_factory=dict)
    dns: Any = None
    pki: Any = None

    @property
    def resolver(self) -> tuple[str, int]:
        return ("127.0.0.1", int(self.dns.port))

    @property
    def resolver_arg(self) -> str:
        return f"127.0.0.1:{self.dns.port}"

    @property
    def catalog_path(self) -> Path:
        return self.workdir / "lab-endpoints.yaml"

    @property
    def ca_bundle(self) -> Path:
        path: Path = self.pki.ca_bundle
        return path

    @property
    def system_bundle(self) -> Path:
        """What ``SSL_CERT_FILE`` must point at: the enterprise machine's store."""
        path: Path = self.pki.system_bundle
        return path

    def accepted(self, name: str) -> int:
        """TCP connections the servers of scenario ``name`` accepted."""
        return sum(int(getattr(s, "accepted", 0)) for s in self.servers.get(name, []))

    async def start(self) -> None:
        from netcheck.lab import app_servers as app
        from netcheck.lab import tcp_servers as tcp
        from netcheck.lab import tls_servers as tls
        from netcheck.lab.dns_server import LabDnsServer, ZoneEntry
        from netcheck.lab.pki import LabPki

        self.pki = pki = LabPki(self.workdir)

        def ctx(scenario: str, name: str) -> Any:
            return tls.scenario_context(pki, scenario, f"{name}.{DOMAIN}")  # type: ignore[arg-type]

        def good(name: str) -> Any:
            return ctx("good", name)

        async def same_port(name: str, binds: tuple[str, ...],
                            make: Callable[[str, int], Any]) -> None:
            # One port number on several loopback addresses, so a published
            # and an unpublished address of one name can both answer.
            first = make(binds[0], 0)
            await self._add(name, first)
            for addr in binds[1:]:
                await self._add(name, make(addr, first.port))

        makers: dict[str, Callable[[], Awaitable[None]]] = {
            "ws-ok": lambda: self._add("ws-ok", app.WsEchoServer(good("ws-ok"))),
            "ws-not-upgraded": lambda: self._add(
                "ws-not-upgraded", app.HttpsServer(good("ws-not-upgraded"))),
            "https-ok": lambda: self._add("https-ok", app.HttpsServer(good("https-ok"))),
            "dns-unexpected": lambda: same_port(
                "dns-unexpected", ("127.0.0.1", "127.0.0.2"),
                lambda a, p: tls.TlsServer(good("dns-unexpected"), host=a, port=p)),
            "dns-missing": lambda: same_port(
                "dns-missing", ("127.0.0.1", "127.0.0.3"),
                lambda a, p: tls.TlsServer(good("dns-missing"), host=a, port=p)),
            "dns-servfail": lambda: self._add(
                "dns-servfail", tls.TlsServer(good("dns-servfail"))),
            "tcp-refused": lambda: self._add("tcp-refused", tcp.RefusingPort()),
            "optional-refused": lambda: self._add("optional-refused", tcp.RefusingPort()),
            "tcp-dropped": lambda: self._add("tcp-dropped", tcp.DroppingPort()),
            "tls-reset": lambda: self._add("tls-reset", tcp.ResettingServer()),
            "tls-silent": lambda: self._add("tls-silent", tcp.SilentServer()),
            "tls-plain-http": lambda: self._add("tls-plain-http", tls.PlainHttpServer()),
            "tls-expired": lambda: self._add(
                "tls-expired", tls.TlsServer(ctx("expired", "tls-expired"))),
            "tls-not-yet-valid": lambda: self._add(
                "tls-not-yet-valid", tls.TlsServer(ctx("not_yet_valid", "tls-not-yet-valid"))),
            "tls-wrong-host": lambda: self._add(
                "tls-wrong-host", tls.TlsServer(ctx("wrong_host", "tls-wrong-host"))),
            "tls-untrusted": lambda: self._add(
                "tls-untrusted", tls.TlsServer(ctx("untrusted", "tls-untrusted"))),
            "tls-enterprise-ca": lambda: self._add(
                "tls-enterprise-ca", tls.TlsServer(ctx("enterprise", "tls-enterprise-ca"))),
            "tls-inspection-name": lambda: self._add(
                "tls-inspection-name", tls.TlsServer(ctx("inspection", "tls-inspection-name"))),
            "tls-expiring": lambda: self._add(
                "tls-expiring", tls.TlsServer(ctx("expiring", "tls-expiring"))),
            "tls-old-version": lambda: self._add(
                "tls-old-version", tls.TlsServer(ctx("tls12", "tls-old-version"))),
            "ws-rejected": lambda: self._add(
                "ws-rejected", app.WsRejectServer(good("ws-rejected"))),
            "ws-no-pong": lambda: self._add("ws-no-pong", app.WsNoPongServer(good("ws-no-pong"))),
            "ws-silent": lambda: self._add("ws-silent", app.SilentServer(good("ws-silent"))),
            "ws-closed": lambda: self._add("ws-closed", app.CloseAfterTlsServer(good("ws-closed"))),
            "ws-garbage": lambda: self._add("ws-garbage", app.GarbageServer(good("ws-garbage"))),
            "http-forbidden": lambda: self._add(
                "http-forbidden", app.HttpsServer(good("http-forbidden"))),
            "http-block-page": lambda: self._add(
                "http-block-page", app.HttpsServer(good("http-block-page"))),
            "http-silent": lambda: self._add("http-silent", app.SilentServer(good("http-silent"))),
            "http-garbage": lambda: self._add(
                "http-garbage", app.GarbageServer(good("http-garbage"))),
        }
        for scenario in SCENARIOS:
            maker = makers.get(scenario.name)
            if maker is not None:
                await maker()
            else:  # DNS-only scenarios: nothing listens (nothing is probed)
                self.ports[scenario.name] = 9  # discard; never reached
        zone = {s.host: ZoneEntry(a=("127.0.0.1",)) for s in SCENARIOS}
        zone[f"dns-unexpected.{DOMAIN}"] = ZoneEntry(a=("127.0.0.2",))
        zone[f"dns-nxdomain.{DOMAIN}"] = ZoneEntry(rcode="NXDOMAIN")
        zone[f"dns-servfail.{DOMAIN}"] = ZoneEntry(rcode="SERVFAIL")
        zone[f"dns-noanswer.{DOMAIN}"] = ZoneEntry()
        zone[f"dns-timeout.{DOMAIN}"] = ZoneEntry(silent=True)
        self.dns = LabDnsServer(zone)
        await self.dns.start()
        self.catalog_path.write_text(self.catalog_yaml(), encoding="utf-8")

    async def _add(self, name: str, server: _Server) -> None:
        await server.start()
        self.servers.setdefault(name, []).append(server)
        self.ports.setdefault(name, server.port)

    async def stop(self) -> None:
        for servers in self.servers.values():
            for server in servers:
                with contextlib.suppress(Exception):
                    await server.stop()
        if self.dns is not None:
            with contextlib.suppress(Exception):
                await self.dns.stop()

    def catalog_yaml(self) -> str:
        lines = [
            "# The netcheck loopback lab: one endpoint per verdict (written at lab start).",
            "version: 1",
            "defaults:",
            f"  timeout: {LAB_TIMEOUT}",
            "endpoints:",
        ]
        for s in SCENARIOS:
            lines += [
                f"  - name: {s.name}",
                f"    host: {s.host}",
                f"    port: {self.ports[s.name]}",
                f"    probe: {s.probe}",
                f"    purpose: {_yaml_str(s.purpose)}",
                f"    expected_ips: [{', '.join(s.expected_ips)}]",
                f"    tags: [lab, {s.name.split('-')[0]}]",
            ]
            if s.probe in ("wss", "https"):
                lines.append(f"    path: {s.path}")
            if s.expect_status is not None:
                lines.append(f"    expect_status: [{', '.join(map(str, s.expect_status))}]")
            if s.min_version is not None:
                lines.append(f"    tls: {{min_version: {_yaml_str(s.min_version)}}}")
            if not s.required:
                lines.append("    required: false")
        return "\n".join(lines) + "\n"


def verdict_mismatches(report: RunReport) -> list[str]:
    """Each lab endpoint whose verdict differs from what the lab guarantees."""
    by_name = {s.name: s for s in SCENARIOS}
    problems = []
    for ep in report.endpoints:
        s = by_name.get(ep.name)
        if s is None:
            continue
        seen = codes_seen(ep)
        if ep.status != s.status or s.code not in seen:
            problems.append(f"{ep.name}: expected {s.status} with {s.code}, "
                            f"got {ep.status} with {', '.join(sorted(seen)) or 'no code'}")
    return problems


def codes_seen(ep: EndpointResult) -> set[str]:
    found = {ep.dns.code}
    for t in ep.targets:
        found.update(p.code for p in t.phases if p.code != "skipped")
    return found


class LabThread:
    """The lab serving from a thread of its own: ``with LabThread() as lab: ...``."""

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="netcheck-lab-")
        self.lab = Lab(Path(self._tmp.name))
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="netcheck-lab",
                                        daemon=True)

    def __enter__(self) -> Lab:
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.lab.start(), self._loop).result(timeout=60)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self.lab

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self.lab.stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._loop.close()
        self._tmp.cleanup()


@contextlib.contextmanager
def system_store(path: Path) -> Iterator[None]:
    """Make ``path`` this process's system trust store for the duration."""
    old = os.environ.get("SSL_CERT_FILE")
    os.environ["SSL_CERT_FILE"] = str(path)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("SSL_CERT_FILE", None)
        else:
            os.environ["SSL_CERT_FILE"] = old


def demo(args: argparse.Namespace) -> int:
    """``netcheck demo``: the real pipeline against the lab, verdicts checked."""
    import sys

    from netcheck import cli
    from netcheck.catalog import load_catalog, select

    if args.catalog is not None or args.resolver or args.ca_bundle is not None:
        raise cli.UsageError("demo brings its own catalogue, resolver and CA bundle; "
                             "use 'netcheck run' for yours")
    if args.proxy is not None:
        raise cli.UsageError("demo runs direct to its loopback lab; --proxy is for "
                             "'netcheck run' (the proxy tests use a real squid)")
    with LabThread() as lab, system_store(lab.system_bundle):
        args.resolver = [lab.resolver]
        args.ca_bundle = lab.ca_bundle
        args.no_proxy, args.proxy = True, None
        # The lab's ports (so its catalogue's sha256) change every run: a
        # history of it would never compare with anything.
        args.no_history = True
        catalog = load_catalog(lab.catalog_path)
        if args.only or args.tag:
            from netcheck.catalog import CatalogError

            try:
                catalog = select(catalog, args.only or [], args.tag or [])
            except CatalogError as exc:
                raise cli.UsageError("; ".join(exc.problems)) from None
        report_box: list[RunReport] = []
        code = cli.run_checks(args, catalog, on_report=report_box.append)
    if not report_box or report_box[0].interrupted:
        return code
    mismatches = verdict_mismatches(report_box[0])
    out = sys.stderr
    if mismatches:
        print(f"netcheck demo: {len(mismatches)} lab verdicts differ from what the lab "
              "guarantees (a bug: please report it):", file=out)
        for m in mismatches:
            print(f"  {m}", file=out)
        return cli.EXIT_FAIL
    report = report_box[0]
    on_purpose = (" (the failures above are the lab's failure modes, on purpose)"
                  if report.summary.failed or report.summary.warned else "")
    print(f"netcheck demo: all {len(report.endpoints)} lab verdicts as the lab "
          f"guarantees{on_purpose}", file=out)
    return cli.EXIT_OK if code in (cli.EXIT_OK, cli.EXIT_FAIL) else code
