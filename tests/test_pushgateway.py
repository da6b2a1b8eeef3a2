"""push() against a real HTTP server on loopback standing in for the Pushgateway."""

from __future__ import annotations

import base64
import http.server
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from netcheck.model import RunReport
from netcheck.pushgateway import PushError, push, split_credentials
from netcheck.render.json import load
from netcheck.render.prometheus import render

SAMPLE = Path(__file__).parent / "render" / "golden" / "sample.json"


@pytest.fixture
def sample_report() -> RunReport:
    """The renderers' sample run (12 endpoints), loaded from its golden JSON."""
    return load(SAMPLE, validate=True)


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Gateway:
    url: str
    received: list[Received] = field(default_factory=list)
    status: int = 200
    answer: bytes = b""


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    """A stdlib HTTP server in a thread that records every request and answers
    ``gateway.status`` (the real Pushgateway answers 200 to PUT, 400 with a
    reason to metrics it rejects)."""
    gw = Gateway(url="")

    class Handler(http.server.BaseHTTPRequestHandler):
        def _record(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            gw.received.append(Received(self.command, self.path, dict(self.headers.items()),
                                        self.rfile.read(length)))
            self.send_response(gw.status)
            self.send_header("Content-Length", str(len(gw.answer)))
            self.end_headers()
            self.wfile.write(gw.answer)

        do_PUT = do_POST = do_DELETE = _record

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep the test output clean

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    gw.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield gw
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_push_puts_the_report_metrics_under_job_and_instance(
        gateway: Gateway, sample_report: RunReport) -> None:
    # Given a saved run and a gateway
    # When it is pushed under job "site-a"
    push(sample_report, gateway.url, job="site-a", timeout=2)
    # Then one PUT (replace the group) arrives at /metrics/job/site-a/instance/<host>
    assert len(gateway.received) == 1
    got = gateway.received[0]
    assert got.method == "PUT"
    assert got.path == f"/metrics/job/site-a/instance/{sample_report.host.hostname}"
    assert "Authorization" not in got.headers
    # and the body is the report's exposition, which prometheus-client parses
    text = got.body.decode("utf-8")
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert "netcheck_probe_success" in families
    assert "netcheck_endpoint_status" in families
    assert text == render(sample_report)


def test_push_default_job_and_basic_auth_from_url(
        gateway: Gateway, sample_report: RunReport) -> None:
    # Given a gateway URL with credentials (a password with a reserved character)
    url = gateway.url.replace("http://", "http://ops:s%40cret@")
    # When the report is pushed with the default job
    push(sample_report, url, timeout=2)
    # Then the credentials go as HTTP Basic auth, decoded, and the job is "netcheck"
    got = gateway.received[0]
    assert got.path.startswith("/metrics/job/netcheck/instance/")
    assert got.headers["Authorization"] == "Basic " + base64.b64encode(
        b"ops:s@cret").decode()


def test_rejected_push_is_one_line_with_the_gateway_reason_and_no_password(
        gateway: Gateway, sample_report: RunReport) -> None:
    # Given a gateway that rejects the push with a reason (as a real one does
    # for metrics inconsistent with what it holds)
    gateway.status = 400
    gateway.answer = b"pushed metrics are invalid or inconsistent\nwith existing metrics\n"
    url = gateway.url.replace("http://", "http://ops:hunter2@")
    # When the report is pushed
    with pytest.raises(PushError) as caught:
        push(sample_report, url, timeout=2)
    # Then the error is one line naming the status and the reason, credentials redacted
    message = str(caught.value)
    assert "\n" not in message
    assert "HTTP 400" in message
    assert "inconsistent with existing metrics" in message
    assert "hunter2" not in message and "ops" not in message
    assert f"push to {gateway.url.replace('http://', 'http://***@')} failed" in message


def test_refused_connection_is_a_push_error(sample_report: RunReport) -> None:
    # Given a loopback port nobody listens on
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # When the report is pushed there
    with pytest.raises(PushError) as caught:
        push(sample_report, f"http://u:pw@127.0.0.1:{port}", timeout=1)
    # Then the error says the connection was refused, without the password
    assert "refused" in str(caught.value).lower()
    assert "pw" not in str(caught.value).replace("push", "")


def test_unusable_url_is_a_push_error(sample_report: RunReport) -> None:
    # Given a URL urllib cannot use (no host) / Then push raises PushError, not ValueError
    with pytest.raises(PushError):
        push(sample_report, "http://", timeout=1)


@pytest.mark.parametrize(("url", "expected"), [
    ("http://gw:9091", ("http://gw:9091", None, None)),
    ("gw:9091", ("gw:9091", None, None)),
    ("https://a:b%2Fc@gw:9091/base", ("https://gw:9091/base", "a", "b/c")),
    ("http://a@[::1]:9091", ("http://[::1]:9091", "a", "")),
])
def test_split_credentials(url: str, expected: tuple[str, str | None, str | None]) -> None:
    assert split_credentials(url) == expected


def test_run_push_gateway_failure_is_one_line_exit_3(tmp_path: Path) -> None:
    # Given a run whose push target refuses connections (a free loopback port)
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    catalog = tmp_path / "one.yaml"
    catalog.write_text("version: 1\nendpoints:\n  - name: refused\n    host: 127.0.0.1\n"
                       f"    port: {port}\n    probe: tcp\n    required: false\n")
    netcheck = str(Path(sys.executable).parent / "netcheck")
    # When netcheck run pushes its metrics there
    result = subprocess.run(
        [netcheck, "run", "--catalog", str(catalog), "--no-history", "-q",
         "--push-gateway", f"http://127.0.0.1:{port}", "--job", "nc"],
        capture_output=True, text=True, timeout=60, check=False)
    # Then the failure is one line and the run exits 3, summary still printed
    assert result.returncode == 3, result.stderr
    assert "netcheck 0.1.0" in result.stdout
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
