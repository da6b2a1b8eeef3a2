"""``netcheck bundle`` against the lab: one zip a support engineer can read,
with every planted secret gone from every member, the log included."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import sys
import zipfile
from pathlib import Path
from urllib.parse import quote

import pytest

from netcheck.bundle import DESCRIPTIONS, redact
from netcheck.lab import Lab
from netcheck.lab.proxy_server import LabProxy
from netcheck.reportschema import validate_report

NETCHECK = str(Path(sys.executable).parent / "netcheck")

# Secrets planted in the run's inputs; none may reach the zip.
PROXY_PASSWORD = "s3cret-Pw!"
ENV_PASSWORD = "envpass99"
SECRETS = (PROXY_PASSWORD, quote(PROXY_PASSWORD, safe=""), ENV_PASSWORD, "abc123tok",
           "zzzaccess", "sigsecret77", "bearersecret", "pacpw42",
           base64.b64encode(f"user:{PROXY_PASSWORD}".encode()).decode())


def _catalog(lab: Lab, tmp_path: Path, *names: str) -> Path:
    lines = ["version: 1", "defaults:", "  timeout: 1.5", "endpoints:"]
    for name in names:
        probe = "wss" if name.startswith("ws") else "https" if name.startswith("https") \
            else "tcp"
        lines += [f"  - name: {name}", f"    host: {name}.lab.netcheck.test",
                  f"    port: {lab.ports[name]}", f"    probe: {probe}",
                  "    expected_ips: [127.0.0.1]",
                  # a purpose quoting a tokenised URL and a header, as a careless
                  # catalogue editor might
                  '    purpose: "see https://portal.example/x?token=abc123tok&access_token='
                  'zzzaccess&sig=sigsecret77 (Authorization: Bearer bearersecret)"']
        if probe != "tcp":
            lines.append("    path: /")
    path = tmp_path / "endpoints.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def _bundle(*args: str, cwd: Path, env: dict[str, str] | None = None
                  ) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        NETCHECK, "bundle", *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, cwd=cwd, env={**os.environ, **(env or {})})
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        return {name: zf.read(name) for name in zf.namelist()}


async def test_bundle_through_an_authenticating_proxy_leaks_no_secret(
        lab: Lab, tmp_path: Path) -> None:
    # Given a run through a proxy with credentials on the command line, other
    # credentials in HTTPS_PROXY, a PAC URL with a password, and tokens in the catalogue
    proxy = LabProxy(hosts={f"{n}.lab.netcheck.test": "127.0.0.1" for n in ("ws-ok", "https-ok")},
                     credentials=("user", PROXY_PASSWORD), allowed_ports=None)
    await proxy.start()
    zip_path = tmp_path / "support.zip"
    try:
        proxy_url = f"http://user:{quote(PROXY_PASSWORD, safe='')}@127.0.0.1:{proxy.port}"
        # When the bundle is made
        code, out, err = await _bundle(
            "--catalog", str(_catalog(lab, tmp_path, "ws-ok", "https-ok")),
            "--resolver", lab.resolver_arg, "--ca-bundle", str(lab.ca_bundle),
            "--proxy", proxy_url, "--output", str(zip_path), "-q", cwd=tmp_path,
            env={"HTTPS_PROXY": f"http://envuser:{ENV_PASSWORD}@127.0.0.1:9",
                 "auto_proxy": "http://pac:pacpw42@wpad.lab.netcheck.test/proxy.pac"})
    finally:
        await proxy.stop()
    # Then the run passed through the proxy and the zip was written
    assert code == 0, err
    assert proxy.tunnels == 2
    assert f"wrote support bundle {zip_path}" in err
    members = _members(zip_path)
    assert set(members) == set(DESCRIPTIONS)
    # and no secret appears in any member, in any form
    for name, data in members.items():
        text = data.decode("utf-8")
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} leaked into {name}"
    # nor in what was printed
    for secret in SECRETS:
        assert secret not in out + err
    # while what support needs is still there, redacted in place
    env = json.loads(members["environment.json"])
    assert env["proxy"]["variables"]["HTTPS_PROXY"] == "http://***@127.0.0.1:9"
    assert env["proxy"]["pac"]["auto_proxy"] == "http://***@wpad.lab.netcheck.test/proxy.pac"
    report = json.loads(members["report.json"])
    assert "token=***&access_token=***&sig=***" in report["endpoints"][0]["purpose"]
    assert "Authorization: ***" in report["endpoints"][0]["purpose"]
    assert report["host"]["proxy"] == f"http://***@127.0.0.1:{proxy.port}"
    # and both tunnels were opened with the password (so it was there to leak)
    assert sorted(proxy.requests) == sorted(
        f"{n}.lab.netcheck.test:{lab.ports[n]}" for n in ("ws-ok", "https-ok"))


async def test_bundle_is_complete_and_self_describing(lab: Lab, tmp_path: Path) -> None:
    # Given a run with a failing endpoint and no --output
    code, _, err = await _bundle(
        "--catalog", str(_catalog(lab, tmp_path, "https-ok", "tcp-refused")),
        "--resolver", lab.resolver_arg, "--ca-bundle", str(lab.ca_bundle), "-q",
        cwd=tmp_path)
    # Then it exits as `run` would (1) and the zip lands in reports/ under a timestamped name
    assert code == 1, err
    files = sorted(p.name for p in (tmp_path / "reports").iterdir())
    assert not [n for n in files if n.startswith(".")]  # no temporary file left behind
    (zip_path,) = (tmp_path / "reports").glob("*.zip")
    assert zip_path.name.startswith("netcheck-bundle-") and zip_path.suffix == ".zip"
    members = _members(zip_path)
    # the manifest names every other file with its size and SHA-256
    manifest = json.loads(members["manifest.json"])
    assert manifest["tool"]["name"] == "netcheck" and manifest["exit_code"] == 1
    assert manifest["created_at"].endswith("Z")
    listed = {f["name"]: f for f in manifest["files"]}
    assert set(listed) == set(members) - {"manifest.json"}
    for name, entry in listed.items():
        assert entry["size"] == len(members[name])
        assert entry["sha256"] == hashlib.sha256(members[name]).hexdigest()
    # the README says what every file is
    readme = members["README.txt"].decode()
    for name in members:
        assert name in readme
    assert "Run result: fail" in readme
    # the JSON report is a valid report, carrying the environment and the clock
    report = json.loads(members["report.json"])
    assert validate_report(report) == []
    assert [e["status"] for e in report["endpoints"]] == ["pass", "fail"]
    assert report["host"]["environment"]["clock"]["samples"] == 1  # https-ok's Date
    assert report["host"]["environment"]["clock"]["status"] == "ok"
    assert "network" in report["host"]["environment"]
    # the other renderings and the debug log are there
    assert members["report.html"].lstrip().lower().startswith(b"<!doctype html")
    assert b"tcp-refused" in members["report.md"]
    log = members["netcheck.log"].decode()
    assert "netcheck.runner DEBUG" in log and "tcp.refused" in log
    # and the console saw no debug line (the log went to the zip only)
    assert "DEBUG" not in err


async def test_bundle_usage_errors_exit_2(lab: Lab, tmp_path: Path) -> None:
    base = ["--catalog", str(_catalog(lab, tmp_path, "https-ok")), "--resolver",
            lab.resolver_arg, "--ca-bundle", str(lab.ca_bundle)]
    # --format does not apply; a folder that does not exist is found before probing
    for extra in (["--format", "json"], ["--output", str(tmp_path / "nope" / "b.zip")],
                  ["--output", "-"]):
        code, _, err = await _bundle(*base, *extra, cwd=tmp_path)
        assert code == 2, (extra, err)
        assert err.count("\n") == 1 and err.startswith("netcheck: ")


# -- the one redaction function ------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("http://u:p4ss@proxy:3128", "http://***@proxy:3128"),
    ("GET /a?token=abc&x=1&password=hunter2#f", "GET /a?token=***&x=1&password=***#f"),
    ("https://h/p?SIG=abc;access_token=def", "https://h/p?SIG=***;access_token=***"),
    ("Proxy-Authorization: Basic dXNlcjpwYXNz\nnext", "Proxy-Authorization: ***\nnext"),
    ('{"Authorization": "Bearer e.y.J", "b": 1}', '{"Authorization": "***", "b": 1}'),
    ("{'authorization': 'Digest a=\"1\"', 'c': 2}", "{'authorization': '***', 'c': 2}"),
    ("tokenizer=ok; ?mytoken=keep", "tokenizer=ok; ?mytoken=keep"),
    ("proxy.auth_required: 407", "proxy.auth_required: 407"),
])
def test_redact(text: str, expected: str) -> None:
    # Given a text holding a credential / When redacted / Then only the secret is gone
    assert redact(text) == expected


def test_redact_known_secrets_in_every_form() -> None:
    from netcheck.bundle import known_secrets

    secrets = known_secrets(["http://bob:p%40ss%20w@proxy:1", "not a url", ""])
    token = base64.b64encode(b"bob:p@ss w").decode()
    text = f"p@ss w | p%40ss%20w | {token}"
    assert redact(text, secrets) == "*** | *** | ***"
