"""The proxy path end to end: the installed ``netcheck run`` as a subprocess,
through a real squid (tests/squid/), against the loopback lab.

Every ``proxy.*`` code comes out of a real run: ok, denied host, denied port
8021 (squid's default SSL_ports rule: the action says so), auth_required (the
port that requires Basic auth), upstream_failed (squid's connect to the lab
port is refused), and timeout / error with lab listeners standing in for a
broken proxy (one that never answers, one that resets). Also: credentials
redacted everywhere, HTTPS_PROXY and NO_PROXY from the environment, and a
local DNS failure behind a working tunnel (info, not a failure).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netcheck.lab import DOMAIN, Lab
from netcheck.reportschema import validate_report

# tests/squid/ is the squid harness, not a test package: import it by path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "squid"))
from squidlab import SquidLab, find_squid

NETCHECK = str(Path(sys.executable).parent / "netcheck")
USER, PASSWORD = "bob", "s3cret"
DENIED = f"tls-untrusted.{DOMAIN}"  # squid's ACL denies this name
PROXY_ONLY = f"proxy-only.{DOMAIN}"  # in squid's hosts_file, unknown to the lab DNS
_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture(scope="module")
def squid(lab: Lab) -> Iterator[SquidLab]:
    if find_squid() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("squid is not installed: CI must install Debian's squid package")
        pytest.skip("squid is not installed (apt-get install squid openssl)")
    names = [f"{n}.{DOMAIN}" for n in ("ws-ok", "https-ok", "tcp-refused")]
    proxy = SquidLab(names=[*names, DENIED, PROXY_ONLY], denied=[DENIED], user=USER,
                     password=PASSWORD)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
        queries = proxy.dns_queries()
        proxy.cleanup()
    assert queries == [], f"squid sent DNS queries: {queries}"


@pytest.fixture(scope="module")
def catalog(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small catalogue of lab hosts, one per proxy outcome."""
    p = lab.ports
    entries = [
        f"{{name: ws, host: ws-ok.{DOMAIN}, port: {p['ws-ok']}, probe: wss, "
        "expected_ips: [127.0.0.1]}",
        f"{{name: web, host: https-ok.{DOMAIN}, port: {p['https-ok']}, probe: https, "
        "expected_ips: [127.0.0.1]}",
        # 443: squid's name ACL refuses it before connecting anywhere
        f"{{name: denied, host: {DENIED}, port: 443, probe: tls, expected_ips: [127.0.0.1]}}",
        f"{{name: port-8021, host: https-ok.{DOMAIN}, port: 8021, probe: https, "
        "expected_ips: [127.0.0.1]}",
        f"{{name: refused, host: tcp-refused.{DOMAIN}, port: {p['tcp-refused']}, "
        "probe: tcp, expected_ips: [127.0.0.1]}",
        f"{{name: proxy-only, host: {PROXY_ONLY}, port: {p['https-ok']}, probe: tcp}}",
    ]
    path = tmp_path_factory.mktemp("proxy-e2e") / "proxy-e2e.yaml"
    path.write_text("version: 1\ndefaults: {timeout: 1}\nendpoints:\n"
                    + "".join(f"  - {e}\n" for e in entries))
    return path


def run(lab: Lab, catalog: Path, *args: str, env: dict[str, str] | None = None
        ) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """``netcheck run`` with the lab's resolver and CA, the JSON report on stdout;
    the caller's proxy variables are never inherited."""
    base = {k: v for k, v in os.environ.items() if k.lower() not in _PROXY_VARS}
    done = subprocess.run(
        [NETCHECK, "run", "--catalog", str(catalog), "--resolver", lab.resolver_arg,
         "--ca-bundle", str(lab.ca_bundle), "--format", "json", "--output", "-", *args],
        capture_output=True, text=True, timeout=60, env={**base, **(env or {})}, check=False)
    assert done.stdout, done.stderr
    doc = json.loads(done.stdout)
    assert validate_report(doc) == []
    return done, doc


def endpoint(doc: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(e for e in doc["endpoints"] if e["name"] == name)
    return found


def phase(ep: dict[str, Any], name: str) -> dict[str, Any]:
    (target,) = ep["targets"]
    found: dict[str, Any] = next(p for p in target["phases"] if p["phase"] == name)
    return found


def test_every_proxy_outcome_through_squid(lab: Lab, squid: SquidLab, catalog: Path) -> None:
    # Given squid's open port as --proxy
    proxy = f"http://127.0.0.1:{squid.open_port}"
    # When the catalogue runs through it
    done, doc = run(lab, catalog, "--proxy", proxy)
    # Then the run fails (denied, 8021, refused) and names the proxy in use
    assert done.returncode == 1, done.stderr
    assert doc["host"]["proxy"] == doc["options"]["proxy"] == proxy
    for ep in doc["endpoints"]:
        (target,) = ep["targets"]
        assert (target["ip"], target["source"]) == (None, "proxy"), ep["name"]
        assert phase(ep, "tcp")["code"] == "tcp.ok"
    # the websocket and HTTPS endpoints pass inside squid's tunnel
    ws, web = endpoint(doc, "ws"), endpoint(doc, "web")
    assert [p["code"] for p in ws["targets"][0]["phases"]] == [
        "tcp.ok", "proxy.ok", "tls.ok", "ws.ok"]
    assert [p["code"] for p in web["targets"][0]["phases"]] == [
        "tcp.ok", "proxy.ok", "tls.ok", "http.ok"]
    assert phase(ws, "proxy")["data"]["status"] == 200
    # a denied host: proxy.denied, the action is the allow-list entry for this proxy
    denied = endpoint(doc, "denied")
    assert (phase(denied, "proxy")["code"], phase(denied, "proxy")["status"]) == (
        "proxy.denied", "fail")
    assert phase(denied, "tls")["code"] == "skipped"
    (finding,) = denied["findings"]
    assert finding["action"] == (f"Add {DENIED}:443 to the allow-list of proxy {proxy} "
                                 "(CONNECT answered 403).")
    # port 8021: denied by the 443-only rule, and the action says so
    (finding,) = endpoint(doc, "port-8021")["findings"]
    assert finding["code"] == "proxy.denied"
    assert finding["action"] == (
        f"Add https-ok.{DOMAIN}:8021 to the allow-list of proxy {proxy} (CONNECT answered "
        "403). Many proxies allow CONNECT only to port 443 by default (squid's SSL_ports "
        "rule, most appliances' HTTPS service): allow CONNECT to port 8021 as well as "
        "the host.")
    # squid could not reach the host itself: upstream_failed, asking for the proxy's egress
    refused = endpoint(doc, "refused")
    p = phase(refused, "proxy")
    assert (p["code"], p["data"]["status"]) == ("proxy.upstream_failed", 503)
    assert p["data"]["headers"]["x-squid-error"] == "ERR_CONNECT_FAIL 111"
    assert refused["findings"][0]["action"] == (
        f"Allow the proxy {proxy} itself outbound TCP {lab.ports['tcp-refused']} to "
        f"tcp-refused.{DOMAIN} (CONNECT answered 503).")


def test_local_nxdomain_behind_a_working_tunnel_is_info(lab: Lab, squid: SquidLab,
                                                        catalog: Path) -> None:
    # Given a name the lab DNS does not know (NXDOMAIN) but squid's hosts file does
    # When it runs through squid
    _, doc = run(lab, catalog, "--proxy", f"http://127.0.0.1:{squid.open_port}",
                 "--only", "proxy-only")
    ep = endpoint(doc, "proxy-only")
    # Then the tunnel opened, the endpoint passes, and the DNS finding is only info
    assert ep["dns"]["code"] == "dns.nxdomain"
    assert phase(ep, "proxy")["code"] == "proxy.ok"
    assert ep["status"] == "pass"
    assert [(f["code"], f["severity"]) for f in ep["findings"]] == [("dns.nxdomain", "info")]
    assert doc["summary"]["status"] == "pass"


def test_auth_required_and_credentials_redacted_everywhere(
        lab: Lab, squid: SquidLab, catalog: Path, tmp_path: Path) -> None:
    # Given squid's port that requires Basic authentication
    bare = f"http://127.0.0.1:{squid.auth_port}"
    # When netcheck runs without credentials
    _, doc = run(lab, catalog, "--proxy", bare, "--only", "web")
    # Then proxy.auth_required, asking for credentials for this proxy
    (finding,) = endpoint(doc, "web")["findings"]
    assert finding["code"] == "proxy.auth_required"
    assert phase(endpoint(doc, "web"), "proxy")["data"]["auth_schemes"] == ["Basic"]
    assert finding["action"] == (
        f"Give netcheck and the product credentials for proxy {bare}, or exempt "
        f"https-ok.{DOMAIN}:{lab.ports['https-ok']} from proxy authentication.")
    # When it runs with credentials in the URL, verbose, writing every format
    out = tmp_path / "reports"
    done = subprocess.run(
        [NETCHECK, "run", "--catalog", str(catalog), "--resolver", lab.resolver_arg,
         "--ca-bundle", str(lab.ca_bundle), "--only", "web", "-v",
         "--proxy", f"http://{USER}:{PASSWORD}@127.0.0.1:{squid.auth_port}",
         "--format", "json,junit,markdown,html,csv,prometheus", "--output-dir", str(out)],
        capture_output=True, text=True, timeout=60, check=False,
        env={k: v for k, v in os.environ.items() if k.lower() not in _PROXY_VARS})
    # Then the tunnel opens, and the password is nowhere: not in stdout,
    # stderr (logs included), nor any report; the proxy shows as ***@
    assert done.returncode == 0, done.stderr
    files = sorted(f for f in out.rglob("*") if f.is_file())
    assert {f.suffix for f in files} >= {".json", ".xml", ".md", ".html", ".csv", ".prom"}
    for text in (done.stdout, done.stderr, *(f.read_text() for f in files)):
        assert PASSWORD not in text
    (report,) = [json.loads(f.read_text()) for f in files if f.suffix == ".json"]
    shown = f"http://***@127.0.0.1:{squid.auth_port}"
    assert report["host"]["proxy"] == report["options"]["proxy"] == shown
    assert phase(endpoint(report, "web"), "proxy")["code"] == "proxy.ok"


def test_https_proxy_from_environment_and_no_proxy_bypass(lab: Lab, squid: SquidLab,
                                                          catalog: Path) -> None:
    # Given HTTPS_PROXY pointing at squid and NO_PROXY naming the web host
    env = {"HTTPS_PROXY": f"http://{USER}:{PASSWORD}@127.0.0.1:{squid.open_port}",
           "NO_PROXY": f"localhost,https-ok.{DOMAIN}"}
    # When netcheck runs without --proxy
    done, doc = run(lab, catalog, "--only", "ws,web", env=env)
    # Then the websocket goes through squid, the web host goes direct to its real IP
    assert done.returncode == 0, done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    assert doc["host"]["proxy"] == f"http://***@127.0.0.1:{squid.open_port}"
    (ws_target,) = endpoint(doc, "ws")["targets"]
    assert (ws_target["ip"], ws_target["source"]) == (None, "proxy")
    assert phase(endpoint(doc, "ws"), "proxy")["code"] == "proxy.ok"
    (web_target,) = endpoint(doc, "web")["targets"]
    assert (web_target["ip"], web_target["source"]) == ("127.0.0.1", "both")
    assert [p["phase"] for p in web_target["phases"]] == ["tcp", "tls", "https"]
    # and --no-proxy ignores the environment altogether
    _, direct = run(lab, catalog, "--only", "ws", "--no-proxy", env=env)
    assert direct["host"]["proxy"] is None
    assert endpoint(direct, "ws")["targets"][0]["ip"] == "127.0.0.1"


@pytest.mark.parametrize(("server", "code", "in_detail"), [
    ("tls-silent", "proxy.timeout", "did not answer"),
    ("tls-reset", "proxy.error", "failed during CONNECT"),
])
def test_broken_proxy_is_timeout_or_error(lab: Lab, catalog: Path, server: str, code: str,
                                          in_detail: str) -> None:
    # Given a "proxy" that accepts and never answers, or one that resets the CONNECT
    proxy = f"http://127.0.0.1:{lab.ports[server]}"
    # When netcheck runs through it
    done, doc = run(lab, catalog, "--proxy", proxy, "--only", "web")
    # Then the proxy phase names the outcome and the proxy
    assert done.returncode == 1
    p = phase(endpoint(doc, "web"), "proxy")
    assert (p["code"], p["status"]) == (code, "fail")
    assert in_detail in p["detail"], p["detail"]
    (finding,) = endpoint(doc, "web")["findings"]
    assert proxy in finding["action"]
