"""netcheck benchmarks: CPU per chain against peers, wall time with drops,
memory against --concurrency, start-up time. Prints figures; times nothing
in the test suite (``--smoke`` only proves the script still runs).

    .venv/bin/python benchmarks/bench.py                 # full run, a few minutes on 2 cores
    .venv/bin/python benchmarks/bench.py --smoke         # every section at tiny size, seconds
    .venv/bin/python benchmarks/bench.py --sections cpu,startup

Everything is on 127.0.0.1. The servers (nginx, a websockets echo backend,
the lab DNS server, a DroppingPort) run in child processes pinned to the
last core; each measured client runs in a fresh process pinned to the first
core, so a client's CPU figure is its own. Without nginx (``apt-get install
nginx``) the echo server terminates TLS itself; without blackbox_exporter
(``apt-get install prometheus-blackbox-exporter``) that comparison is
skipped. Every figure is a ratio to a baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import http.client
import json
import math
import os
import platform
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
NETCHECK = str(Path(PYTHON).parent / "netcheck")
DOMAIN = "bench.lab.netcheck.test"
MIB = 1024

# Targets from the issue (ratios are netcheck / reference).
TARGET_VS_BASELINE = 1.25
TARGET_VS_BLACKBOX = 1.3
TARGET_RSS_MIB = 150
TARGET_HELP_MS = 80
TARGET_VALIDATE_MS = 150


class BenchError(Exception):
    """A run did not do what it was meant to (wrong codes, a server died)."""


@dataclass(frozen=True)
class Sizes:
    cpu_n: int
    drops_n: int
    drops_d: int
    drops_timeout: float
    scale: tuple[int, ...]
    scale_timeout: float
    memory_n: int
    memory_c: tuple[int, ...]
    startup_runs: int
    blackbox_n: int
    repeat: int
    sweep_n: int = 2000  # endpoints per run of the --concurrency sweep
    memory_probe: str = "tls"

    @staticmethod
    def full() -> Sizes:
        return Sizes(cpu_n=2000, drops_n=1000, drops_d=100, drops_timeout=3.0,
                     scale=(100, 1000, 10000), scale_timeout=1.0, memory_n=10000,
                     memory_c=(16, 64, 256, 1024), startup_runs=20, blackbox_n=2000, repeat=2,
                     sweep_n=2000)

    @staticmethod
    def smoke() -> Sizes:
        return Sizes(cpu_n=20, drops_n=20, drops_d=2, drops_timeout=0.5,
                     scale=(10, 20, 40), scale_timeout=0.3, memory_n=40, memory_c=(4, 16),
                     startup_runs=3, blackbox_n=20, repeat=1, sweep_n=20)


# -- the machine ---------------------------------------------------------------

def _first_line(cmd: Sequence[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else "?"


def machine() -> dict[str, str]:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    nginx = shutil.which("nginx")
    blackbox = shutil.which("prometheus-blackbox-exporter")
    return {
        "cpu": cpu,
        "cores": f"{os.cpu_count()} (usable: {len(os.sched_getaffinity(0))})",
        "kernel": platform.release(),
        "os": _os_name(),
        "python": platform.python_version(),
        "openssl": ssl.OPENSSL_VERSION,
        "nginx": _first_line([nginx, "-v"]) if nginx else "not installed",
        "blackbox_exporter": _first_line([blackbox, "--version"]) if blackbox else "not installed",
    }


def _os_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    return platform.platform()


# -- pinning ----------------------------------------------------------------

def cores() -> tuple[set[int] | None, set[int] | None]:
    """(client cores, server cores): one each where there are two."""
    usable = sorted(os.sched_getaffinity(0))
    if len(usable) < 2:
        return None, None
    return {usable[0]}, {usable[-1]}


def _pin(cpus: set[int] | None) -> Callable[[], None] | None:
    if cpus is None:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_port(port: int, proc: subprocess.Popen[Any], what: str, limit: float = 10.0) -> None:
    until = time.monotonic() + limit
    while time.monotonic() < until:
        if proc.poll() is not None:
            raise BenchError(f"{what} exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise BenchError(f"{what} did not listen on 127.0.0.1:{port} within {limit:g} s")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (and its reaped children), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def _stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


# -- the servers ------------------------------------------------------------

NGINX_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
worker_rlimit_nofile 16384;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
{servers}
}}
"""

NGINX_SERVER = """\
    server {{
        listen 127.0.0.1:{port} ssl backlog=4096;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        location / {{
            proxy_pass http://127.0.0.1:{backend};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
        }}
    }}
"""


@dataclass
class Lab:
    """The server side of every section, started once."""

    tmp: Path
    hosts: int
    drops: int
    client_cpus: set[int] | None
    server_cpus: set[int] | None
    ca_bundle: Path = field(init=False)
    ports: dict[str, int] = field(default_factory=dict)
    tls_port: int = 0  # nginx (ECDSA) or, without nginx, the echo server's own TLS
    rsa_port: int | None = None  # nginx with an RSA-2048 chain
    server_name: str = "python websockets (TLS in Python; nginx not installed)"
    _procs: list[subprocess.Popen[Any]] = field(default_factory=list)
    _servers: subprocess.Popen[str] | None = None

    def start(self) -> None:
        import trustme

        from netcheck.lab.pki import LabPki

        pki = LabPki(self.tmp)
        names = (f"*.{DOMAIN}", DOMAIN)
        ecdsa = self._write_leaf("ecdsa", pki.vendor.issue_cert(*names))
        rsa_ca = trustme.CA(organization_name="netcheck bench RSA CA",
                            key_type=trustme.KeyType.RSA)
        rsa = self._write_leaf("rsa", rsa_ca.issue_cert(*names, key_type=trustme.KeyType.RSA))
        self.ca_bundle = self.tmp / "bench-ca.pem"
        self.ca_bundle.write_bytes(pki.vendor.cert_pem.bytes() + rsa_ca.cert_pem.bytes())
        self._servers = subprocess.Popen(
            [PYTHON, str(HERE / "_servers.py"), "--hosts", str(self.hosts),
             "--drops", str(self.drops), "--cert", str(ecdsa[0]), "--key", str(ecdsa[1])],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            preexec_fn=_pin(self.server_cpus))
        self._procs.append(self._servers)
        self.ports = json.loads(self._line())
        self.tls_port = self.ports["wss"]
        if shutil.which("nginx"):
            self._start_nginx(ecdsa, rsa)

    def _write_leaf(self, tag: str, leaf: Any) -> tuple[Path, Path]:
        cert, key = self.tmp / f"{tag}-chain.pem", self.tmp / f"{tag}-key.pem"
        cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
        leaf.private_key_pem.write_to_path(str(key))
        return cert, key

    def _start_nginx(self, ecdsa: tuple[Path, Path], rsa: tuple[Path, Path]) -> None:
        ecdsa_port, rsa_port = free_port(), free_port()
        servers = "".join(
            NGINX_SERVER.format(port=port, cert=cert, key=key, backend=self.ports["ws"])
            for port, (cert, key) in ((ecdsa_port, ecdsa), (rsa_port, rsa)))
        conf = self.tmp / "nginx.conf"
        conf.write_text(NGINX_CONF.format(tmp=self.tmp, servers=servers))
        nginx = subprocess.Popen(
            ["nginx", "-p", str(self.tmp), "-c", str(conf),
             "-e", str(self.tmp / "nginx-error.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=_pin(self.server_cpus))
        self._procs.append(nginx)
        wait_port(ecdsa_port, nginx, "nginx")
        self.tls_port, self.rsa_port = ecdsa_port, rsa_port
        self.server_name = "nginx (TLS) proxying to a python websockets echo server"

    def _line(self) -> str:
        assert self._servers is not None and self._servers.stdout is not None
        line = self._servers.stdout.readline()
        if not line:
            raise BenchError("the server process died (see its stderr above)")
        return line

    def dns_queries(self, reset: bool = False) -> dict[str, int]:
        assert self._servers is not None and self._servers.stdin is not None
        self._servers.stdin.write("reset\n" if reset else "queries\n")
        self._servers.stdin.flush()
        answer: dict[str, int] = json.loads(self._line())
        return answer

    @property
    def dns(self) -> str:
        return f"127.0.0.1:{self.ports['dns']}"

    def client(self, mode: str, n: int, *, port: int | None = None, hosts: int = 1,
               probe: str = "wss", concurrency: int = 64, timeout: float = 5.0,
               drops: int = 0, loop: str = "asyncio", profile: str = "") -> dict[str, Any]:
        cmd = [PYTHON, str(HERE / "_client.py"), mode, "--n", str(n), "--hosts", str(hosts),
               "--probe", probe, "--port", str(port or self.tls_port), "--dns", self.dns,
               "--ca-bundle", str(self.ca_bundle), "--concurrency", str(concurrency),
               "--timeout", str(timeout), "--drops", str(drops),
               "--drop-port", str(self.ports["drop"]), "--loop", loop]
        if profile:
            cmd += ["--profile", profile]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False,
                             preexec_fn=_pin(self.client_cpus))
        if out.returncode != 0:
            raise BenchError(f"client {mode} failed ({out.returncode}):\n{out.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
        return result

    def stop(self) -> None:
        if self._servers is not None and self._servers.stdin is not None:
            with contextlib.suppress(OSError):
                self._servers.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._servers.wait(5)
        for proc in reversed(self._procs):
            _stop(proc)
            for stream in (proc.stdout, proc.stdin):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()


@contextlib.contextmanager
def lab(sizes: Sizes) -> Iterator[Lab]:
    client_cpus, server_cpus = cores()
    hosts = max(sizes.cpu_n, sizes.memory_n, max(sizes.scale))
    with tempfile.TemporaryDirectory(prefix="netcheck-bench-") as tmp:
        the_lab = Lab(Path(tmp), hosts=hosts, drops=max(sizes.drops_d, max(sizes.scale) // 10),
                      client_cpus=client_cpus, server_cpus=server_cpus)
        try:
            the_lab.start()
            yield the_lab
        finally:
            the_lab.stop()


def expect_codes(result: dict[str, Any], expected: dict[str, int], what: str) -> None:
    if result["codes"] != expected:
        raise BenchError(f"{what}: targets ended in {result['codes']}, expected {expected}")
    dns_codes = result.get("dns_codes")
    if dns_codes is not None and set(dns_codes) != {"dns.ok"}:
        raise BenchError(f"{what}: DNS ended in {dns_codes}")


# -- report helpers -------------------------------------------------------------

def verdict(value: float, target: float) -> str:
    if value <= target:
        return f"met (target <= {target:g})"
    return f"MISSED by {100 * (value / target - 1):.0f}% (target <= {target:g})"


def table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> None:
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(str(c) for c in row) + " |")
    print()


def per_target_ms(result: dict[str, Any]) -> float:
    return 1000 * float(result["cpu_s"]) / int(result["targets"])


def best(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    # The least-disturbed run: background noise only ever adds CPU.
    return min(runs, key=lambda r: float(r["cpu_s"]))


# -- 1. CPU per chain ---------------------------------------------------------------

BLACKBOX_UPGRADE = (
    "GET / HTTP/1.1\\r\\nHost: h0.{domain}\\r\\nUpgrade: websocket\\r\\n"
    "Connection: Upgrade\\r\\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\n"
    "Sec-WebSocket-Version: 13\\r\\n\\r")  # the tcp prober appends "\n"

BLACKBOX_CONF = """\
modules:
  websocket:
    prober: websocket
  tcp_tls_upgrade:
    prober: tcp
    timeout: 5s
    tcp:
      preferred_ip_protocol: ip4
      tls: true
      tls_config:
        ca_file: {ca}
        server_name: h0.{domain}
      query_response:
        - send: "{upgrade}"
        - expect: "^HTTP/1.1 101"
  http_upgrade:
    prober: http
    timeout: 2s
    http:
      preferred_ip_protocol: ip4
      valid_status_codes: [101]
      fail_if_not_ssl: true
      headers:
        Upgrade: websocket
        Connection: Upgrade
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
        Sec-WebSocket-Version: "13"
      tls_config:
        ca_file: {ca}
        server_name: h0.{domain}
"""


def _outcome(status: int, body: str) -> str:
    if "probe_success 1" in body:
        return "probe_success 1"
    return f"http {status}" if status != 200 else "probe_success 0"


class Blackbox:
    """prometheus-blackbox-exporter as a child process with our config."""

    def __init__(self, the_lab: Lab) -> None:
        self.lab = the_lab
        self.port = free_port()
        conf = the_lab.tmp / "blackbox.yml"
        conf.write_text(BLACKBOX_CONF.format(ca=the_lab.ca_bundle, domain=DOMAIN,
                                             upgrade=BLACKBOX_UPGRADE.format(domain=DOMAIN)))
        # The exporter is the client under measurement here: it gets the
        # client's core, as netcheck does.
        self.proc = subprocess.Popen(
            ["prometheus-blackbox-exporter", f"--config.file={conf}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=error"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=_pin(the_lab.client_cpus))
        wait_port(self.port, self.proc, "blackbox_exporter")

    def get(self, conn: http.client.HTTPConnection, path: str) -> tuple[int, str]:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")

    def probe_path(self, module: str) -> str:
        # By IP: the exporter resolves names with the system resolver, which
        # must never be asked for lab names. The http prober needs a URL.
        target = f"127.0.0.1:{self.lab.tls_port}"
        if module.startswith("http"):
            target = f"https://{target}/"
        return f"/probe?target={target}&module={module}"

    def drive(self, path: str, n: int, threads: int = 8) -> tuple[float, float, dict[str, int]]:
        """(CPU seconds of the exporter, wall seconds, outcomes) for n GETs of path."""
        outcomes: dict[str, int] = {}

        def worker(count: int) -> list[str]:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            seen = []
            try:
                for _ in range(count):
                    status, body = self.get(conn, path)
                    seen.append(_outcome(status, body))
            finally:
                conn.close()
            return seen

        share = [n // threads + (1 if i < n % threads else 0) for i in range(threads)]
        cpu0, wall0 = cpu_seconds(self.proc.pid), time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            for seen in pool.map(worker, share):
                for s in seen:
                    outcomes[s] = outcomes.get(s, 0) + 1
        return cpu_seconds(self.proc.pid) - cpu0, time.perf_counter() - wall0, outcomes

    def one(self, module: str, limit: float = 3.0) -> tuple[int, str, float]:
        """One probe; (0, "timed out", limit) when the exporter has not
        answered within ``limit`` (its http prober reads an upgraded
        connection's body until the module's timeout and beyond)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=limit)
        t0 = time.perf_counter()
        try:
            status, body = self.get(conn, self.probe_path(module))
            return status, body, time.perf_counter() - t0
        except TimeoutError:
            return 0, "timed out", limit
        finally:
            conn.close()

    def close(self) -> None:
        _stop(self.proc)


def section_cpu(the_lab: Lab, sizes: Sizes, profile_dir: Path | None) -> dict[str, Any]:
    n = sizes.cpu_n
    print(f"## 1. CPU per full chain ({n} targets, server: {the_lab.server_name})\n")
    ok_ws = {"ws.ok": n}

    def repeat(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        return best([fn() for _ in range(sizes.repeat)])

    baseline = repeat(lambda: the_lab.client("baseline", n, hosts=n))
    expect_codes(baseline, {"ok": n}, "baseline")
    the_lab.dns_queries(reset=True)
    nc_many = repeat(lambda: the_lab.client("netcheck", n, hosts=n))
    queries_many = the_lab.dns_queries()
    expect_codes(nc_many, ok_ws, "netcheck, distinct hosts")
    the_lab.dns_queries(reset=True)
    nc_one = repeat(lambda: the_lab.client("netcheck", n, hosts=1))
    queries_one = the_lab.dns_queries()
    expect_codes(nc_one, ok_ws, "netcheck, one host")
    naive = the_lab.client("naive", n, hosts=n)
    expect_codes(naive, {"ok": n}, "naive")

    rows: list[list[object]] = []
    figures: dict[str, Any] = {"n": n}
    base_ms = per_target_ms(baseline)

    def row(label: str, result: dict[str, Any], note: str = "") -> float:
        ms = per_target_ms(result)
        rows.append([label, f"{ms:.3f}", f"{ms / base_ms:.2f}x", note])
        return ms

    row("bare asyncio TLS handshake (baseline)", baseline, "no DNS, no HTTP")
    many_ms = row(f"netcheck wss, {n} distinct hosts", nc_many,
                  f"DNS: {queries_many['total'] // sizes.repeat} queries per run "
                  f"for {queries_many['names']} names")
    one_ms = row(f"netcheck wss, one host x {n}", nc_one,
                 f"DNS: {queries_one['total'] // sizes.repeat} queries per run")
    row("naive dnspython + websockets chain", naive, "A query per target")
    figures.update(baseline_ms=base_ms, netcheck_many_ms=many_ms, netcheck_one_ms=one_ms,
                   naive_ms=per_target_ms(naive), dns_queries_many=queries_many,
                   dns_queries_one=queries_one)

    if the_lab.rsa_port is not None:
        # The ideas are measured once each (the headline figures take the best of --repeat).
        rsa_base = the_lab.client("baseline", n, hosts=n, port=the_lab.rsa_port)
        rsa_nc = the_lab.client("netcheck", n, hosts=n, port=the_lab.rsa_port)
        expect_codes(rsa_nc, ok_ws, "netcheck, RSA")
        row("baseline, RSA-2048 chain", rsa_base, "idea: cheaper verify on the client")
        own = per_target_ms(rsa_nc) / per_target_ms(rsa_base)
        row("netcheck wss, RSA-2048 chain", rsa_nc, f"{own:.2f}x its own baseline")
        figures.update(rsa_baseline_ms=per_target_ms(rsa_base),
                       rsa_netcheck_ms=per_target_ms(rsa_nc))
    if _has_uvloop():
        uv_base = the_lab.client("baseline", n, hosts=n, loop="uvloop")
        uv_nc = the_lab.client("netcheck", n, hosts=n, loop="uvloop")
        expect_codes(uv_nc, ok_ws, "netcheck, uvloop")
        row("baseline on uvloop", uv_base, "idea: uvloop's event loop and TLS transport")
        row("netcheck wss on uvloop", uv_nc, "")
        figures.update(uvloop_baseline_ms=per_target_ms(uv_base),
                       uvloop_netcheck_ms=per_target_ms(uv_nc))
    else:
        print("skipped: uvloop not installed (the uvloop rows)\n")

    blackbox = section_blackbox(the_lab, sizes)
    if blackbox:
        figures["blackbox"] = blackbox
        bb_ms = blackbox["probe_ms"]
        rows.append([f"blackbox_exporter {blackbox['module']} probe (its process)",
                     f"{bb_ms:.3f}", f"{bb_ms / base_ms:.2f}x",
                     f"target by IP, no DNS; HTTP serving alone {blackbox['http_ms']:.3f} ms"])
    table(rows, ["client", "CPU ms / target", "vs baseline", "note"])
    print(f"netcheck (distinct hosts) / baseline = {many_ms / base_ms:.2f}: "
          f"{verdict(many_ms / base_ms, TARGET_VS_BASELINE)}")
    print(f"netcheck (one host) / baseline = {one_ms / base_ms:.2f}: "
          f"{verdict(one_ms / base_ms, TARGET_VS_BASELINE)}")
    if blackbox:
        print(f"netcheck (distinct hosts) / blackbox = {many_ms / bb_ms:.2f}: "
              f"{verdict(many_ms / bb_ms, TARGET_VS_BLACKBOX)}")
        print(f"netcheck (one host) / blackbox = {one_ms / bb_ms:.2f}: "
              f"{verdict(one_ms / bb_ms, TARGET_VS_BLACKBOX)}")
    print()
    if profile_dir is not None:
        path = profile_dir / "netcheck-wss-profile.txt"
        the_lab.client("netcheck", n, hosts=n, profile=str(path))
        print(f"profile of the netcheck run written to {path}\n")
    return figures


def _has_uvloop() -> bool:
    out = subprocess.run([PYTHON, "-c", "import uvloop"], capture_output=True, check=False)
    return out.returncode == 0


def section_blackbox(the_lab: Lab, sizes: Sizes) -> dict[str, Any] | None:
    if shutil.which("prometheus-blackbox-exporter") is None:
        print("skipped: prometheus-blackbox-exporter not installed\n")
        return None
    box = Blackbox(the_lab)
    try:
        status, body, _ = box.one("websocket")
        native = status == 200 and "probe_success 1" in body
        print(f"blackbox 'websocket' prober: {'present' if native else 'absent'} "
              f"(HTTP {status}: {body.strip().splitlines()[0] if body.strip() else ''})")
        modules = (["websocket"] if native else []) + ["tcp_tls_upgrade", "http_upgrade"]
        usable = []
        for module in modules:
            status, body, took = box.one(module)
            good = status == 200 and "probe_success 1" in body
            print(f"blackbox module {module}: {'probe_success 1' if good else 'fails'} "
                  f"in {took * 1000:.0f} ms" + (" (no answer: stuck)" if status == 0 else ""))
            if good and took < 1.0:
                usable.append(module)
            elif not good and status != 0:
                _, debug, _ = box.one(module + "&debug=true")
                for line in [x for x in debug.splitlines() if "level=error" in x][:2]:
                    print(f"  {line.strip()[:300]}")
        if not usable:
            raise BenchError("no blackbox module probes the server successfully")
        module = usable[0]
        n = sizes.blackbox_n
        box.drive(box.probe_path(module), min(n, 50))  # warm the exporter up
        runs = [box.drive(box.probe_path(module), n) for _ in range(sizes.repeat)]
        cpu, wall, outcomes = min(runs, key=lambda r: r[0])
        if outcomes != {"probe_success 1": n}:
            raise BenchError(f"blackbox probes ended in {outcomes}")
        http_cpu, _, _ = box.drive("/-/healthy", n)
        print(f"blackbox: {n} probes of module {module} in {wall:.1f} s wall, "
              f"{cpu:.2f} s CPU of its process; {n} plain GET /-/healthy: {http_cpu:.2f} s CPU\n")
        return {"module": module, "probe_ms": 1000 * cpu / n, "http_ms": 1000 * http_cpu / n,
                "native_websocket": native}
    finally:
        box.close()


# -- 2. wall time with drops, and scale ------------------------------------------

def waves(drops: int, concurrency: int) -> int:
    """How many timeouts a run of dropped targets waits through, in sequence:
    each dropped target holds a connection slot for the whole timeout."""
    return max(1, math.ceil(drops / concurrency)) if drops else 0


def section_drops(the_lab: Lab, sizes: Sizes) -> dict[str, Any]:
    n, d, t = sizes.drops_n, sizes.drops_d, sizes.drops_timeout
    print(f"## 2. Wall time with drops ({n} endpoints, {d} silently dropped, "
          f"timeout {t:g} s, probe tcp)\n")
    rows = []
    figures: dict[str, Any] = {}
    # 64 (the default) shows the waves: fewer slots than dropped targets.
    for concurrency in (256, 64):
        result = the_lab.client("netcheck", n, hosts=max(1, n // 10), probe="tcp",
                                concurrency=concurrency, timeout=t, drops=d)
        expect_codes(result, {"tcp.ok": n - d, "tcp.timeout": d}, f"drops at {concurrency}")
        w = waves(d, concurrency)
        rows.append([concurrency, f"{result['wall_s']:.2f}", w, f"{w * t:.1f}",
                     f"{1000 * result['cpu_s']:.0f}"])
        figures[str(concurrency)] = result
    table(rows, ["--concurrency", "wall s", "waves of timeouts", "predicted s (waves x timeout)",
                 "CPU ms"])
    wall = figures["256"]["wall_s"]
    print(f"at --concurrency 256: {wall:.2f} s against the limit timeout + 2 s = {t + 2:g} s: "
          f"{verdict(wall, t + 2)}\n")
    return figures


def section_scale(the_lab: Lab, sizes: Sizes) -> dict[str, Any]:
    t = sizes.scale_timeout
    concurrency = 256
    print(f"## 2b. Scale: 10% dropped, timeout {t:g} s, --concurrency {concurrency}, probe tcp, "
          "one host per 10 endpoints\n")
    rows = []
    figures: dict[str, Any] = {}
    first: float | None = None
    for n in sizes.scale:
        d = n // 10
        result = the_lab.client("netcheck", n, hosts=max(1, n // 10), probe="tcp",
                                concurrency=concurrency, timeout=t, drops=d)
        expect_codes(result, {"tcp.ok": n - d, "tcp.timeout": d}, f"scale {n}")
        per = 1000 * result["cpu_s"] / n
        first = first if first is not None else per
        w = waves(d, concurrency)
        rows.append([n, f"{1000 * result['cpu_s']:.0f}", f"{per:.3f}", f"{per / first:.2f}",
                     f"{result['wall_s']:.2f}", w, f"{w * t:.1f}"])
        figures[str(n)] = result
    table(rows, ["endpoints", "CPU ms", "CPU ms / endpoint", "vs smallest", "wall s",
                 "waves", "waves x timeout s"])
    return figures


# -- 3. memory ------------------------------------------------------------------

def section_memory(the_lab: Lab, sizes: Sizes) -> dict[str, Any]:
    probe = sizes.memory_probe
    # The target figure at full size and the default concurrency; the sweep
    # at a smaller size (RSS follows open connections, not the catalogue),
    # so the whole section stays within a minute.
    # One host per 10 endpoints (a fleet whose sites share names), and the
    # target size once more with every endpoint its own host, the worst case.
    runs = ([(sizes.memory_n, 64, max(1, sizes.memory_n // 10)),
             (sizes.memory_n, 64, sizes.memory_n)]
            + [(sizes.sweep_n, c, max(1, sizes.sweep_n // 10)) for c in sizes.memory_c])
    print(f"## 3. Peak RSS ({probe} probe), fresh process each\n")
    rows = []
    figures: dict[str, Any] = {}
    for n, concurrency, hosts in runs:
        the_lab.dns_queries(reset=True)
        result = the_lab.client("netcheck", n, hosts=hosts, concurrency=concurrency,
                                probe=probe)
        queries = the_lab.dns_queries()
        expect_codes(result, {"tls.ok" if probe == "tls" else "ws.ok": n},
                     f"memory at {concurrency}")
        once = queries["total"] == 2 * hosts and queries["max_per_name_type"] == 1
        rss = result["peak_rss_kib"] / MIB
        rows.append([n, hosts, concurrency, f"{rss:.1f}", f"{result['wall_s']:.1f}",
                     f"{queries['total']} for {queries['names']} names "
                     f"({'once per host and type' if once else 'NOT once per host'})"])
        figures[f"{n}@{concurrency}" + ("" if hosts < n else "/distinct")] = {
            **result, "dns": queries}
        if not once:
            raise BenchError(f"DNS asked other than once per host and type: {queries}")
    table(rows, ["endpoints", "hosts", "--concurrency", "peak RSS MiB", "wall s",
                 "DNS queries (A + AAAA)"])
    for key, what in (("", "one host per 10"), ("/distinct", "every endpoint its own host")):
        rss = figures[f"{sizes.memory_n}@64{key}"]["peak_rss_kib"] / MIB
        print(f"peak RSS for {sizes.memory_n} endpoints ({what}) at the default "
              f"--concurrency 64: {rss:.1f} MiB: {verdict(rss, TARGET_RSS_MIB)}")
    print()
    return figures


# -- 4. start-up ----------------------------------------------------------------

def _startup_env() -> dict[str, str]:
    """An installed netcheck has its .pyc files (pip compiles them); with
    PYTHONDONTWRITEBYTECODE set (as in some CI shells) every run would
    recompile netcheck's modules and time the compiler instead. The cache
    goes to a folder of its own, never into the source tree."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "netcheck-bench-pyc")
    return env


def _times(cmd: Sequence[str], runs: int, pin: set[int] | None) -> list[float]:
    out = []
    env = _startup_env()
    for _ in range(runs):
        t0 = time.perf_counter()
        done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=60, check=False, preexec_fn=_pin(pin), env=env)
        out.append(1000 * (time.perf_counter() - t0))
        if done.returncode != 0:
            raise BenchError(f"{' '.join(cmd)} exited {done.returncode}")
    return out


def p90(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.9 * len(ordered)) - 1)]


def section_startup(sizes: Sizes, client_cpus: set[int] | None) -> dict[str, Any]:
    runs = sizes.startup_runs
    print(f"## 4. Start-up ({runs} runs each, wall ms)\n")
    cases = [("python -c pass", [PYTHON, "-c", "pass"], None),
             ("netcheck --help", [NETCHECK, "--help"], TARGET_HELP_MS),
             ("netcheck validate", [NETCHECK, "validate"], TARGET_VALIDATE_MS)]
    rows = []
    figures: dict[str, Any] = {}
    for label, cmd, _ in cases:
        _times(cmd, 1, client_cpus)  # warm the page cache and the .pyc files
        values = _times(cmd, runs, client_cpus)
        figures[label] = {"median": statistics.median(values), "p90": p90(values)}
    base = figures["python -c pass"]["median"]
    for label, _, target in cases:
        f = figures[label]
        rows.append([label, f"{f['median']:.1f}", f"{f['p90']:.1f}",
                     f"{f['median'] / base:.2f}x", verdict(f["median"], target) if target else ""])
    table(rows, ["command", "median ms", "p90 ms", "vs python -c pass", "target"])
    slow = [label for label, _, target in cases if target and figures[label]["median"] > target]
    for label in slow:
        args = ["--help"] if "help" in label else ["validate"]
        print(f"imports of `{label}` costing most (python -X importtime, cumulative):")
        for us, name in import_costs(args)[:12]:
            print(f"  {us / 1000:7.1f} ms  {name}")
        print()
    return figures


def import_costs(args: Sequence[str]) -> list[tuple[int, str]]:
    out = subprocess.run([PYTHON, "-X", "importtime", "-c",
                          f"import sys; sys.argv = ['netcheck', *{list(args)!r}]; "
                          "from netcheck.cli import main; sys.exit(main())"],
                         capture_output=True, text=True, timeout=60, check=False,
                         env=_startup_env())
    costs = []
    for line in out.stderr.splitlines():
        # "import time:  self_us | cumulative_us | [indent]module"
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.split(":", 1)[1].split("|")
        costs.append((int(cumulative), name[1:]))
    # Top-level packages only carry the cost of everything under them.
    top = [(us, name) for us, name in costs if not name.startswith("  ")]
    return sorted(top, reverse=True)


# -- main -------------------------------------------------------------------

SECTIONS = ("cpu", "drops", "scale", "memory", "startup")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="every section at tiny size")
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated, of {', '.join(SECTIONS)}")
    parser.add_argument("--profile", type=Path, default=None, metavar="DIR",
                        help="also profile one netcheck CPU run with pyinstrument into DIR")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH",
                        help="write every figure as JSON here")
    args = parser.parse_args(argv)
    sizes = Sizes.smoke() if args.smoke else Sizes.full()
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown sections: {', '.join(unknown)}")
    if shutil.which("nginx") is None:
        print("skipped: nginx not installed (TLS is served by the python echo server)")
    info = machine()
    print("# netcheck benchmarks" + (" (smoke: tiny sizes, figures meaningless)" if args.smoke
                                      else ""))
    print()
    table([[k, v] for k, v in info.items()], ["machine", ""])
    client_cpus, server_cpus = cores()
    print(f"client pinned to cores {client_cpus}, servers to {server_cpus}\n")
    figures: dict[str, Any] = {"machine": info, "smoke": args.smoke}
    t0 = time.perf_counter()
    try:
        if any(s in sections for s in ("cpu", "drops", "scale", "memory")):
            with lab(sizes) as the_lab:
                if "cpu" in sections:
                    figures["cpu"] = section_cpu(the_lab, sizes, args.profile)
                if "drops" in sections:
                    figures["drops"] = section_drops(the_lab, sizes)
                if "scale" in sections:
                    figures["scale"] = section_scale(the_lab, sizes)
                if "memory" in sections:
                    figures["memory"] = section_memory(the_lab, sizes)
        if "startup" in sections:
            figures["startup"] = section_startup(sizes, client_cpus)
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    print(f"benchmark done in {time.perf_counter() - t0:.0f} s")
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
