"""TLS inspection by a real intercepting proxy (mitmproxy's mitmdump), end to
end through the installed ``netcheck`` command and through the probes.

mitmproxy re-signs every site with its own CA (``O=mitmproxy,CN=mitmproxy``,
generated in its confdir), so whatever the lab server presents, netcheck sees
mitmproxy's certificate: ``tls.intercepted``, asking for an SSL-inspection
bypass for the host, both as a forward proxy (inside the CONNECT tunnel) and
as a transparent-style interceptor (mitmproxy's reverse mode in front of the
lab server, reached as if it were the vendor's address).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import certifi
from mitmlab import Mitmdump

from netcheck.catalog import load_catalog
from netcheck.lab import Lab
from netcheck.probes import proxy as proxy_probe
from netcheck.probes import tls, websocket
from netcheck.probes.base import ProbeContext, ProbeOptions
from netcheck.proxyconf import parse_proxy_url
from netcheck.reportschema import validate_report

NETCHECK = str(Path(sys.executable).parent / "netcheck")
_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def run_netcheck(*args: str, system_store: Path) -> tuple[subprocess.CompletedProcess[str],
                                                          dict[str, Any]]:
    """``netcheck run ... --format json --output -`` with the proxy variables
    cleared and ``SSL_CERT_FILE`` as this machine's system store."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in _PROXY_VARS}
    env["SSL_CERT_FILE"] = str(system_store)
    done = subprocess.run([NETCHECK, "run", *args, "--format", "json", "--output", "-"],
                          capture_output=True, text=True, timeout=60, env=env, check=False)
    assert done.stdout, done.stderr
    doc = json.loads(done.stdout)
    assert validate_report(doc) == []
    return done, doc


def lab_args(lab: Lab, *only: str) -> list[str]:
    args = ["--catalog", str(lab.catalog_path), "--resolver", lab.resolver_arg,
            "--ca-bundle", str(lab.ca_bundle)]
    for name in only:
        args += ["--only", name]
    return args


def phases(endpoint: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (target,) = endpoint["targets"]
    return {p["phase"]: p for p in target["phases"]}


def bypass_action(host: str, port: int, issuer: str) -> str:
    return (f"Add an SSL-inspection bypass for {host} (port {port}): the certificate "
            f"presented was issued by {issuer}. Websockets commonly break under inspection.")


def test_forward_proxy_interception_is_intercepted(lab: Lab, mitm: Mitmdump) -> None:
    # Given mitmproxy as the forward proxy, its CA trusted nowhere
    before = lab.accepted("ws-ok"), lab.accepted("https-ok")
    # When netcheck runs the websocket and HTTPS lab endpoints through it
    done, doc = run_netcheck(*lab_args(lab, "ws-ok", "https-ok"), "--proxy", mitm.proxy_url,
                             system_store=Path(certifi.where()))
    # Then both fail at the TLS phase inside the tunnel: tls.intercepted by
    # mitmproxy's issuer name (and untrusted), the app phase skipped
    assert done.returncode == 1, done.stderr
    assert doc["host"]["proxy"] == doc["options"]["proxy"] == mitm.proxy_url
    for ep, app in zip(doc["endpoints"], ("websocket", "https"), strict=True):
        (target,) = ep["targets"]
        assert (target["ip"], target["source"]) == (None, "proxy")
        by_phase = phases(ep)
        assert [by_phase[p]["code"] for p in ("tcp", "proxy", "tls", app)] == [
            "tcp.ok", "proxy.ok", "tls.intercepted", "skipped"]
        t = by_phase["tls"]
        assert t["data"]["issuer"] == "O=mitmproxy,CN=mitmproxy"
        assert t["data"]["trusted_by"] is None
        assert [p["code"] for p in t["data"]["problems"]] == ["tls.intercepted", "tls.untrusted"]
        assert "names the TLS-inspection product mitmproxy" in t["detail"]
        # mitmproxy forged a certificate for the name asked (and the upstream IP
        # our addon gave it), so the host name itself matches
        assert t["data"]["san"] == [ep["host"], "127.0.0.1"]
        (finding,) = ep["findings"]
        assert (finding["code"], finding["severity"]) == ("tls.intercepted", "fail")
        assert finding["action"].startswith(bypass_action(ep["host"], ep["port"],
                                                          "O=mitmproxy,CN=mitmproxy"))
        assert t["data"]["hint"] == (
            f"This certificate came through the tunnel of proxy {mitm.proxy_url}: "
            "if that proxy inspects TLS, add the bypass there.")
    # and mitmproxy really went upstream to each lab server (its eager connect)
    assert lab.accepted("ws-ok") > before[0] and lab.accepted("https-ok") > before[1]


def test_mitmproxy_ca_in_the_system_store_is_still_intercepted(
        lab: Lab, mitm: Mitmdump, tmp_path: Path) -> None:
    # Given a machine whose system store holds mitmproxy's CA, as an
    # enterprise installs its inspection CA (certifi + that CA)
    store = tmp_path / "system-store.pem"
    store.write_bytes(Path(certifi.where()).read_bytes() + b"\n" + mitm.ca_pem.read_bytes())
    # When netcheck runs through mitmproxy
    done, doc = run_netcheck(*lab_args(lab, "ws-ok"), "--proxy", mitm.proxy_url,
                             system_store=store)
    # Then the chain only the system store trusts is intercepted, for two reasons
    assert done.returncode == 1, done.stderr
    t = phases(doc["endpoints"][0])["tls"]
    assert (t["code"], t["data"]["trusted_by"]) == ("tls.intercepted", "system")
    assert [p["code"] for p in t["data"]["problems"]] == ["tls.intercepted"] * 2
    assert "trusted by this host's system store only" in t["detail"]
    assert phases(doc["endpoints"][0])["websocket"]["code"] == "skipped"


def test_reverse_mode_interception_is_intercepted(lab: Lab, mitm: Mitmdump,
                                                  tmp_path: Path) -> None:
    # Given mitmproxy in reverse mode in front of the lab websocket server,
    # published as the vendor's address (transparent interception)
    ws_ok = next(e for e in load_catalog(lab.catalog_path).endpoints if e.name == "ws-ok")
    catalog = tmp_path / "reverse.yaml"
    catalog.write_text(
        "version: 1\ndefaults: {timeout: 2}\nendpoints:\n"
        f"  - {{name: vendor-ws, host: {ws_ok.host}, port: {mitm.reverse_port}, probe: wss, "
        "expected_ips: [127.0.0.1]}\n")
    # When netcheck connects straight to it (no proxy)
    done, doc = run_netcheck("--catalog", str(catalog), "--resolver", lab.resolver_arg,
                             "--ca-bundle", str(lab.ca_bundle), "--no-proxy",
                             system_store=Path(certifi.where()))
    # Then it is tls.intercepted on the real address, with the bypass action
    assert done.returncode == 1, done.stderr
    ep = doc["endpoints"][0]
    (target,) = ep["targets"]
    assert (target["ip"], target["source"]) == ("127.0.0.1", "both")
    by_phase = phases(ep)
    assert [by_phase[p]["code"] for p in ("tcp", "tls", "websocket")] == [
        "tcp.ok", "tls.intercepted", "skipped"]
    assert by_phase["tls"]["data"]["issuer"] == "O=mitmproxy,CN=mitmproxy"
    assert ep["findings"][0]["action"] == bypass_action(ws_ok.host, mitm.reverse_port,
                                                        "O=mitmproxy,CN=mitmproxy")
    assert "hint" not in by_phase["tls"]["data"]  # no proxy: the device is on the path


async def test_websocket_upgrade_survives_mitmproxy(lab: Lab, mitm: Mitmdump) -> None:
    # Given a tunnel through mitmproxy, and mitmproxy's CA given as --ca-bundle
    # (so the handshake verifies and the connection stays open)
    ws_ok = next(e for e in load_catalog(lab.catalog_path).endpoints if e.name == "ws-ok")
    proxy = parse_proxy_url(mitm.proxy_url)
    ctx = ProbeContext(endpoint=ws_ok, ip=None,
                       options=ProbeOptions(timeout=2.0, ca_bundle=mitm.ca_pem, proxy=proxy))
    conn = await proxy_probe.open_tunnel(proxy, ws_ok.host, ws_ok.port, 2.0)
    try:
        # When TLS runs, then (past what the runner would do) the websocket phase
        tls_result, conn_after = await tls.run(ctx, conn)
        assert conn_after is conn and conn.tls
        ws_result, _ = await websocket.run(ctx, conn)
    finally:
        await conn.aclose()
    # Then TLS is still intercepted by name, though verified against the given CA
    assert (tls_result.code, tls_result.data["trusted_by"]) == ("tls.intercepted", "public")
    # and mitmproxy relays the upgrade, ping/pong and close: websockets survive
    # mitmproxy's inspection (many appliances break them; this one does not)
    assert (ws_result.code, ws_result.status) == ("ws.ok", "pass")
    assert ws_result.data.get("upgraded") is True
