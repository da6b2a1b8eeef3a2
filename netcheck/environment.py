"""Facts about the machine a run happened on, for support: "why does it work
here and not there".

:func:`collect` gathers what the OS already knows -- OS and versions,
interfaces and the default route, resolvers, /etc/hosts entries for the
catalogue's hosts, proxy variables -- by reading files and running ``ip``;
it never sends a packet, never raises, and stays cheap (a few milliseconds:
every JSON report carries it in ``host.environment``). Each fact is
collected on its own: one that fails is ``{"error": "..."}`` and the others
are still there. Secrets are redacted (:func:`netcheck.bundle.redact`).

:func:`clock_skew` compares the local clock with the ``Date`` header of the
HTTPS and websocket answers in a finished report: a skew of minutes breaks
TLS validity checks and token logins.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import platform
import shutil
import socket
import statistics
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from netcheck import __version__
from netcheck.model import RunReport

SKEW_WARN_SECONDS = 60.0
"""Beyond this, TLS (not-yet-valid certificates) and token logins start to fail."""

OS_RELEASE = "/etc/os-release"
RESOLV_CONF = "/etc/resolv.conf"
RESOLVED_CONF = "/run/systemd/resolve/resolv.conf"  # systemd-resolved's upstream servers
PROXY_VARS = ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "all_proxy",
              "ALL_PROXY", "no_proxy", "NO_PROXY")
# No standard names a PAC file in the environment; these are the ones tools
# use (libproxy/pacrunner's auto_proxy, and what admins set for scripts).
PAC_VARS = ("auto_proxy", "AUTO_PROXY", "PAC_URL", "pac_url", "WPAD_URL", "wpad_url")
_IP_TIMEOUT = 1.0


Fact = dict[str, Any]


def _fact(collect: Callable[[], Any]) -> Any:
    """One fact, or ``{"error": ...}``: a broken fact never hides the others."""
    try:
        return collect()
    except Exception as exc:  # every failure becomes data here
        return {"error": f"{type(exc).__name__}: {exc}"}


def collect(*, catalog_hosts: Iterable[str], proxy_env: Mapping[str, str]) -> dict[str, Any]:
    """The environment facts, JSON-ready and redacted; never raises.

    ``catalog_hosts``: whose /etc/hosts entries to report. ``proxy_env``:
    the environment to read proxy variables from (``os.environ``).
    """
    t0 = time.perf_counter()
    hosts = tuple(dict.fromkeys(h.lower() for h in catalog_hosts))
    facts: dict[str, Any] = {
        "os": _fact(os_facts),
        "python": _fact(lambda: {"version": platform.python_version(),
                                 "implementation": platform.python_implementation()}),
        "netcheck": {"version": __version__},
        "hostname": _fact(socket.gethostname),
        "network": _fact(network_facts),
        "dns": _fact(lambda: dns_facts(hosts)),
        "proxy": _fact(lambda: proxy_facts(proxy_env)),
    }
    facts["collected_in_ms"] = round((time.perf_counter() - t0) * 1000, 3)
    return facts


# -- OS -------------------------------------------------------------------------

def parse_os_release(text: str) -> dict[str, str]:
    """``KEY=value`` lines (values optionally quoted), as os-release(5) says."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key and not key.startswith("#"):
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            out[key] = value
    return out


def os_facts(os_release: str = OS_RELEASE) -> Fact:
    # Not platform.platform(): it scans the interpreter binary for the libc
    # version (~20 ms); the report's host.platform already carries it.
    uname = platform.uname()
    facts: Fact = {"system": uname.system, "kernel": uname.release, "version": uname.version,
                   "machine": uname.machine}
    try:
        release = parse_os_release(Path(os_release).read_text(encoding="utf-8"))
    except OSError as exc:
        facts["distro"] = {"error": f"{os_release}: {exc.strerror or exc}"}
    else:
        facts["distro"] = {k.lower(): release[k] for k in ("PRETTY_NAME", "ID", "VERSION_ID")
                           if k in release}
    return facts


# -- interfaces and the default route ----------------------------------------------------

def _ip_json(*args: str) -> Any:
    out = subprocess.run(["ip", "-j", *args], capture_output=True, timeout=_IP_TIMEOUT,
                         check=True, text=True).stdout
    return json.loads(out or "[]")


def interfaces_from_ip(addr: list[Mapping[str, Any]]) -> list[Fact]:
    """``ip -j addr`` as [{name, state, mtu, addresses: [CIDR...]}]."""
    return [{
        "name": link.get("ifname"),
        "state": link.get("operstate"),
        "mtu": link.get("mtu"),
        "addresses": [f"{a.get('local')}/{a.get('prefixlen')}"
                      for a in link.get("addr_info", ()) if a.get("local")],
    } for link in addr]


def default_route_from_ip(routes: list[Mapping[str, Any]], family: str) -> Fact | None:
    """The first ``default`` route of ``ip -j route`` (lowest metric first)."""
    defaults = [r for r in routes if r.get("dst") == "default"]
    defaults.sort(key=lambda r: int(r.get("metric", 0)))
    if not defaults:
        return None
    r = defaults[0]
    return {"family": family, "interface": r.get("dev"), "gateway": r.get("gateway"),
            "metric": r.get("metric")}


def default_route_from_proc(text: str) -> Fact | None:
    """/proc/net/route's IPv4 default (destination 0, mask 0, lowest metric)."""
    best: tuple[int, Fact] | None = None
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) < 8 or f[1] != "00000000" or f[7] != "00000000":
            continue
        gateway = socket.inet_ntoa(int(f[2], 16).to_bytes(4, "little"))
        metric = int(f[6])
        if best is None or metric < best[0]:
            best = (metric, {"family": "inet", "interface": f[0], "gateway": gateway,
                             "metric": metric})
    return best[1] if best else None


def _interfaces_from_sys() -> list[Fact]:
    """Without ``ip``: names, MTU and state from /sys, IPv6 from /proc (IPv4
    addresses need an ioctl per interface, which /sys does not offer)."""
    v6: dict[str, list[str]] = {}
    try:
        for line in Path("/proc/net/if_inet6").read_text().splitlines():
            f = line.split()
            if len(f) >= 6:
                addr = socket.inet_ntop(socket.AF_INET6, bytes.fromhex(f[0]))
                v6.setdefault(f[5], []).append(f"{addr}/{int(f[2], 16)}")
    except OSError:
        pass
    out = []
    for link in sorted(Path("/sys/class/net").iterdir()):
        out.append({"name": link.name,
                    "state": _read(link / "operstate"),
                    "mtu": int(_read(link / "mtu") or 0) or None,
                    "addresses": v6.get(link.name, [])})
    return out


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def network_facts() -> Fact:
    facts: Fact = {}
    if shutil.which("ip"):
        facts["source"] = "ip -j"
        facts["interfaces"] = _fact(lambda: interfaces_from_ip(_ip_json("addr")))
        routes = [route for route in (
            _fact(lambda: default_route_from_ip(_ip_json("-4", "route"), "inet")),
            _fact(lambda: default_route_from_ip(_ip_json("-6", "route"), "inet6")))
            if route is not None]
    else:
        facts["source"] = "/sys and /proc"
        facts["interfaces"] = _fact(_interfaces_from_sys)
        route = _fact(lambda: default_route_from_proc(Path("/proc/net/route").read_text()))
        routes = [route] if route is not None else []
    facts["default_routes"] = routes
    first = next((r for r in routes if "error" not in r), None)
    facts["default_interface"] = first["interface"] if first else None
    facts["mtu"] = None
    if first is not None and isinstance(facts["interfaces"], list):
        facts["mtu"] = next((i["mtu"] for i in facts["interfaces"]
                             if i["name"] == first["interface"]), None)
    return facts


# -- resolvers and /etc/hosts ------------------------------------------------------------

def parse_resolv_conf(text: str) -> Fact:
    """nameserver, search/domain and options lines, as the stub resolver reads them."""
    nameservers: list[str] = []
    search: list[str] = []
    options: list[str] = []
    for line in text.splitlines():
        f = line.split("#", 1)[0].split(";", 1)[0].split()
        if not f:
            continue
        if f[0] == "nameserver" and len(f) > 1:
            nameservers.append(f[1])
        elif f[0] in ("search", "domain"):
            search = f[1:]  # the last search/domain line wins
        elif f[0] == "options":
            options.extend(f[1:])
    return {"nameservers": nameservers, "search": search, "options": options}


def _resolv(path: str) -> Fact | None:
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None
    return {"path": path, **parse_resolv_conf(text)}


def dns_facts(hosts: tuple[str, ...], *, resolv_conf: str = RESOLV_CONF,
              resolved_conf: str = RESOLVED_CONF, hosts_file: str | None = None,
              nsswitch_file: str | None = None) -> Fact:
    from netcheck.probes import dns

    hosts_path = hosts_file or dns.HOSTS_FILE
    facts: Fact = {
        "resolv_conf": _fact(lambda: _resolv(resolv_conf)
                             or {"path": resolv_conf, "error": "no such file"}),
        # systemd-resolved: resolv.conf then names its stub (127.0.0.53), and
        # this file the upstream servers it really asks.
        "systemd_resolved": _fact(lambda: _resolv(resolved_conf)),
        "nsswitch_hosts": _fact(lambda: dns.nsswitch_hosts(nsswitch_file or dns.NSSWITCH_FILE)),
    }
    table = dns.read_hosts(hosts_path)
    facts["hosts_file"] = hosts_path
    facts["hosts_entries"] = {h: list(table[h]) for h in hosts if h in table}
    return facts


# -- proxies -----------------------------------------------------------------------------

def proxy_facts(environ: Mapping[str, str]) -> Fact:
    from netcheck.bundle import redact

    return {
        "variables": {name: redact(environ[name]) for name in PROXY_VARS if name in environ},
        "pac": {name: redact(environ[name]) for name in PAC_VARS if environ.get(name)},
    }


# -- the clock ---------------------------------------------------------------------------

def _parse_time(text: str) -> dt.datetime | None:
    try:
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _http_date(text: str) -> dt.datetime | None:
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def clock_skew(report: RunReport) -> dict[str, Any]:
    """The local clock against the ``Date`` header of every HTTPS/websocket answer.

    Skew is server time minus local time (positive: this clock is behind).
    A phase that recorded ``received_at`` (its local receive time) is exact
    to the Date header's second; otherwise the receive time is only known to
    lie within the run, and the run's midpoint is used with half the run's
    duration as the uncertainty. ``status`` is ``warn`` when the median skew
    is beyond :data:`SKEW_WARN_SECONDS` even allowing for that uncertainty,
    ``unknown`` when no answer carried a usable Date.
    """
    started = _parse_time(report.started_at)
    finished = _parse_time(report.finished_at)
    samples: list[dict[str, Any]] = []
    for ep in report.endpoints:
        for target in ep.targets:
            for phase in target.phases:
                if phase.phase not in ("https", "websocket"):
                    continue
                data = phase.data
                raw = data.get("date") or (data.get("headers") or {}).get("date")
                server = _http_date(str(raw)) if raw else None
                if server is None:
                    continue
                local = _parse_time(str(data["received_at"])) if data.get("received_at") \
                    else None
                method, uncertainty = "received_at", 1.0  # Date has whole seconds
                if local is None:
                    if started is None or finished is None:
                        continue
                    local = started + (finished - started) / 2
                    method = "run_window"
                    uncertainty = (finished - started).total_seconds() / 2 + 1.0
                samples.append({"endpoint": ep.name, "ip": target.ip, "phase": phase.phase,
                                "date": str(raw), "method": method,
                                "skew_s": round((server - local).total_seconds(), 3),
                                "uncertainty_s": round(uncertainty, 3)})
    if not samples:
        return {"status": "unknown", "samples": 0, "median_skew_s": None,
                "threshold_s": SKEW_WARN_SECONDS,
                "detail": "no HTTPS or websocket answer carried a Date header"}
    median = statistics.median(s["skew_s"] for s in samples)
    uncertainty = max(s["uncertainty_s"] for s in samples)
    beyond = abs(median) - uncertainty > SKEW_WARN_SECONDS
    direction = "behind" if median > 0 else "ahead of"
    detail = (f"this clock is {abs(median):.0f} s {direction} the servers' Date headers "
              f"(median of {len(samples)}, ±{uncertainty:.0f} s)")
    if beyond:
        detail += ("; a skew of minutes breaks TLS certificate checks and token logins: "
                   "fix NTP on this machine")
    return {"status": "warn" if beyond else "ok", "samples": len(samples),
            "median_skew_s": round(median, 3), "uncertainty_s": round(uncertainty, 3),
            "threshold_s": SKEW_WARN_SECONDS, "detail": detail, "by_answer": samples}
