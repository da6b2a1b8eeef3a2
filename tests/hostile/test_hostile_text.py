"""Untrusted text from the network, end to end: hostile lab servers put HTML,
rich markup, terminal escapes (CSI, OSC ended by BEL, their 8-bit C1 forms)
and a NUL into a certificate's issuer, a Server header and a reason phrase;
the installed ``netcheck`` runs with every format under a pseudo-terminal,
and every output is checked for what its format requires.

tests/render has the unit tests (a hostile report built by hand); this one
proves the text really travels from a socket to each file and the terminal.
"""

from __future__ import annotations

import csv
import errno
import fcntl
import io
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from hostilekit import ServerThread

from netcheck.lab.dns_server import LabDnsServer, ZoneEntry
from netcheck.lab.hostile_servers import (
    HOSTILE_HTTP_TEXT,
    RawResponseServer,
    hostile_context,
)
from netcheck.lab.pki import LabPki
from netcheck.lab.tls_servers import TlsServer
from netcheck.reportschema import validate_report

NETCHECK = str(Path(sys.executable).parent / "netcheck")
DOMAIN = "lab.netcheck.test"
FORMATS = "console,json,junit,markdown,html,csv,prometheus"
# Bytes that must never reach a terminal or a text report from the network.
DANGEROUS = ("\x1b]", "\x07", "\x00", "\x9b", "\x9d", "\x1b[31mCSI-EVIL")


def _answer(status: bytes, reason: bytes, server: bytes) -> bytes:
    return (b"HTTP/1.1 " + status + b" " + reason + b"\r\nServer: " + server
            + b"\r\nVia: 1.1 " + server + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


def _run_in_pty(args: list[str], cwd: Path, timeout: float = 60) -> tuple[int, str]:
    """Run ``args`` with a pseudo-terminal (250 columns) as stdin/stdout/stderr."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 250, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLUMNS")}
    env["TERM"] = "xterm-256color"
    proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env,
                            close_fds=True)
    os.close(slave)
    out = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError as exc:  # EIO: the child closed the terminal
                    if exc.errno != errno.EIO:
                        raise
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return code, out.decode("utf-8", "replace")


def _assert_clean_text(name: str, text: str) -> None:
    for bad in DANGEROUS:
        assert bad not in text, f"{name} carries {bad!r} from the network"


def test_hostile_text_is_safe_in_every_output(pki: LabPki, threaded: ServerThread,
                                              tmp_path: Path) -> None:
    # Given a TLS server whose CA's name is hostile, and origins whose
    # reason phrase and Server header are (HTTP allows only obs-text there,
    # so those carry the 8-bit C1 forms of CSI and OSC; one also sends raw
    # ESC and NUL, which the HTTP parsers reject, quoting them in the error)
    evil = HOSTILE_HTTP_TEXT
    raw_c0 = b"\x1b[31mCSI-EVIL \x1b]0;pwned-title\x07 nul\x00end"
    servers = {
        "evil-cert": ("tls", threaded.start(TlsServer, hostile_context(f"evil-cert.{DOMAIN}"))),
        "evil-ws": ("wss", threaded.start(RawResponseServer,
                                          pki.server_context(f"evil-ws.{DOMAIN}"),
                                          _answer(b"403", evil, evil))),
        "evil-http": ("https", threaded.start(RawResponseServer,
                                              pki.server_context(f"evil-http.{DOMAIN}"),
                                              _answer(b"418", evil, evil))),
        "evil-ws-c0": ("wss", threaded.start(RawResponseServer,
                                             pki.server_context(f"evil-ws-c0.{DOMAIN}"),
                                             _answer(b"403", raw_c0, b"lab"))),
        "evil-http-c0": ("https", threaded.start(RawResponseServer,
                                                 pki.server_context(f"evil-http-c0.{DOMAIN}"),
                                                 _answer(b"200", b"OK", raw_c0))),
    }
    dns_server = threaded.start(LabDnsServer, {f"{n}.{DOMAIN}": ZoneEntry(a=("127.0.0.1",))
                                               for n in servers})
    lines = ["version: 1", "defaults: {timeout: 1}", "endpoints:"]
    for name, (probe, server) in servers.items():
        lines += [f"  - name: {name}", f"    host: {name}.{DOMAIN}", f"    port: {server.port}",
                  f"    probe: {probe}", "    expected_ips: [127.0.0.1]"]
        if name == "evil-http":
            lines.append("    expect_status: [200]")
    catalog = tmp_path / "evil.yaml"
    catalog.write_text("\n".join(lines) + "\n")
    out = tmp_path / "reports"

    # When the installed netcheck runs with every format, its terminal a pty
    code, console = _run_in_pty(
        [NETCHECK, "run", "--catalog", str(catalog), "--resolver", dns_server.address,
         "--ca-bundle", str(pki.ca_bundle), "--no-proxy", "--format", FORMATS,
         "--output-dir", str(out)], cwd=tmp_path)

    # Then the run fails as it should (every endpoint is hostile)
    assert code == 1, console
    files = {p.suffix: p for p in out.iterdir() if p.name != "history.jsonl"}
    assert set(files) == {".json", ".xml", ".md", ".html", ".csv", ".prom"}, files
    doc = json.loads(files[".json"].read_text(encoding="utf-8"))
    assert validate_report(doc) == []
    by_name = {e["name"]: e for e in doc["endpoints"]}
    assert by_name["evil-cert"]["targets"][0]["phases"][1]["code"] == "tls.untrusted"
    assert by_name["evil-ws"]["targets"][0]["phases"][2]["code"] == "ws.rejected"
    assert by_name["evil-http"]["targets"][0]["phases"][2]["code"] == "http.unexpected_status"
    # And the hostile text did reach the report (the test would prove nothing otherwise)
    assert "<script>alert(1)" in json.dumps(doc)

    # And the terminal got no escape sequence, BEL or NUL from the network;
    # rich markup in the text is shown literally, not interpreted
    _assert_clean_text("console", console)
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", console)  # rich's own styling
    assert "[bold red]RICH[/bold red]" in plain
    assert "CSI-EVIL" in plain

    # And HTML is escaped: no live script, the text shown as text
    html = files[".html"].read_text(encoding="utf-8")
    _assert_clean_text("html", html)
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)" in html

    # And Markdown does not embed raw HTML either
    markdown = files[".md"].read_text(encoding="utf-8")
    _assert_clean_text("markdown", markdown)
    assert "<script>alert(1)" not in markdown

    # And JUnit is well-formed XML (no character XML forbids)
    junit = files[".xml"].read_text(encoding="utf-8")
    _assert_clean_text("junit", junit)
    ET.fromstring(junit)

    # And CSV parses back, every row as wide as the header, nothing unquoted
    # breaking a row
    text = files[".csv"].read_text(encoding="utf-8")
    _assert_clean_text("csv", text)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows and all(len(r) == len(rows[0]) for r in rows)

    # And every Prometheus sample line parses, labels quoted and escaped
    prom = files[".prom"].read_text(encoding="utf-8")
    _assert_clean_text("prometheus", prom)
    label = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:\\[\\"n]|[^"\\\n])*"'
    sample = re.compile(rf"[a-zA-Z_:][a-zA-Z0-9_:]*(?:\{{(?:{label})(?:,{label})*,?\}})? \S+")
    for line in prom.splitlines():
        if line and not line.startswith("#"):
            assert sample.fullmatch(line), line

    # And JSON, the machine record, keeps the text (escaped as JSON requires:
    # no raw C0 control; C1 characters are valid JSON and kept as they came)
    raw_json = files[".json"].read_text(encoding="utf-8")
    for bad in ("\x1b", "\x07", "\x00"):
        assert bad not in raw_json
