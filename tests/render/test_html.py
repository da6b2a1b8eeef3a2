"""The HTML report, checked as a browser sees it: rendered in a real headless
Chromium (Debian's ``chromium``), screenshotted, and its DOM dumped and read.

The browser tests skip only when chromium is absent and ``CI`` is not
``true``; under CI they fail instead (tests/conftest.py turns a skip into a
failure there). Golden file: ``golden/sample.html``; refresh with
``NETCHECK_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/render``.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_json import assert_golden

from netcheck import sanitize
from netcheck.changes import build_change_request
from netcheck.model import RunReport
from netcheck.render.html import certificates, render, rule_of, view, waterfall

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync")


# -- a small DOM reader (the stdlib parser is enough for what we assert) -------


class _Dom(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self._stack: list[tuple[str, dict[str, str]]] = []
        self.code_texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.elements.append((tag, a))
        if tag not in ("meta", "link", "br", "col", "img", "input"):
            self._stack.append((tag, a))
        if tag == "code":
            self.code_texts.append("")

    def handle_endtag(self, tag: str) -> None:
        while self._stack:
            if self._stack.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._stack and self._stack[-1][0] == "code":
            self.code_texts[-1] += data

    def having(self, tag: str, cls: str | None = None) -> list[dict[str, str]]:
        return [a for t, a in self.elements
                if t == tag and (cls is None or cls in a.get("class", "").split())]


def _dom(html: str) -> _Dom:
    dom = _Dom()
    dom.feed(html)
    dom.close()
    return dom


# -- headless chromium ---------------------------------------------------------


@pytest.fixture(scope="module")
def chromium() -> str:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("CI") == "true":
        pytest.fail("chromium is not installed; CI must provide it (apt-get install chromium)")
    pytest.skip("chromium is not installed (apt-get install chromium)")


def _chromium(browser: str, tmp: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    # Loopback-only by construction: the page has no external reference and
    # the flags turn off every background fetch chromium would make itself.
    cmd = [browser, *CHROMIUM_FLAGS, f"--user-data-dir={tmp / 'profile'}", *args]
    done = subprocess.run(cmd, capture_output=True, timeout=90, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    return done


def _write(tmp: Path, name: str, report: RunReport) -> Path:
    path = tmp / name
    path.write_text(render(report), encoding="utf-8")
    return path


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    return width, height


def test_browser_renders_the_sample_report(chromium: str, tmp_path: Path,
                                           sample_report: RunReport) -> None:
    # Given the sample report written as one HTML file
    page = _write(tmp_path, "report.html", sample_report)
    png = tmp_path / "report.png"
    # When headless chromium screenshots it
    _chromium(chromium, tmp_path, f"--screenshot={png}", "--window-size=1280,2000",
              page.as_uri())
    # Then the PNG is the window's size and not a blank page (a blank page
    # compresses to a few kB; this one is full of text and colour)
    data = png.read_bytes()
    assert _png_size(data) == (1280, 2000)
    assert len(data) > 60_000


def test_browser_dom_has_the_change_request_and_waterfall(chromium: str, tmp_path: Path,
                                                          sample_report: RunReport) -> None:
    # Given the sample report written as one HTML file
    page = _write(tmp_path, "report.html", sample_report)
    # When chromium loads it and dumps the DOM it built
    dom = _dom(_chromium(chromium, tmp_path, "--dump-dom", page.as_uri()).stdout.decode())
    # Then every change-request row is there with its rule in a <code>
    cr = build_change_request(sample_report)
    rows = dom.having("tr", "change-row")
    assert [r["data-section"] for r in rows] == [r.section for r in cr.rows]
    rules = [rule_of(r) for r in cr.rows]
    assert [c for c in dom.code_texts if c in rules] == rules
    assert "169.63.160.148 tcp/8021" in rules
    # and one waterfall row per target, one segment per phase that ran
    # (DNS first), widths in percent of the slowest target
    assert len(dom.having("tr", "wf-row")) == sum(
        max(len(e.targets), 1) for e in sample_report.endpoints)
    segments = dom.having("div", "seg")
    ran = sum(1 + sum(p.status != "skip" for p in t.phases)
              for e in sample_report.endpoints for t in e.targets)
    assert len(segments) == ran
    assert {s["data-phase"] for s in segments} == {"dns", "tcp", "proxy", "tls", "websocket",
                                                   "https"}
    assert all(re.fullmatch(r"width: \d+(\.\d+)?%;?", s["style"]) for s in segments)
    # and no element loads anything from anywhere
    assert not [a for _, a in dom.elements if "src" in a or "href" in a]


def test_browser_dom_of_hostile_report_has_no_script(chromium: str, tmp_path: Path,
                                                     hostile_report: RunReport) -> None:
    # Given the hostile report, whose network strings carry <script> and escapes
    page = _write(tmp_path, "hostile.html", hostile_report)
    # When chromium loads it and dumps the DOM
    html = _chromium(chromium, tmp_path, "--dump-dom", page.as_uri()).stdout.decode()
    dom = _dom(html)
    # Then no <script> element exists, the markup shows as text, and no
    # escape or control character reached the page
    assert dom.having("script") == []
    text = "".join(dom.text)
    assert "<script>alert(1)</script>" in text
    assert sanitize.is_clean(text.replace("\n", ""))


# -- without a browser -----------------------------------------------------------


def test_page_is_self_contained_and_forbids_scripts(sample_report: RunReport) -> None:
    # Given the sample report rendered as HTML
    html = render(sample_report)
    dom = _dom(html)
    # When its head is read / Then a CSP forbids scripts and remote loads,
    # there is no script, and nothing refers outside the file
    csp = [a["content"] for a in dom.having("meta")
           if a.get("http-equiv") == "Content-Security-Policy"]
    assert csp == ["default-src 'none'; style-src 'unsafe-inline'; img-src data:"]
    assert dom.having("script") == [] and dom.having("link") == []
    assert not re.search(r"\b(?:src|href)=", html)
    assert not re.search(r"url\(", html)


def test_hostile_strings_are_escaped(hostile_report: RunReport) -> None:
    # Given the hostile report / When it is rendered
    html = render(hostile_report)
    # Then the markup is escaped text, quotes cannot end an attribute, and
    # no escape or control character is left
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert _dom(html).having("script") == []
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]", html)
    for _, attrs in _dom(html).elements:
        assert not any(k.startswith("on") for k in attrs)


def test_waterfall_scales_to_the_slowest_target(sample_report: RunReport) -> None:
    # Given the sample report / When its waterfall is computed
    rows = waterfall(sample_report)
    # Then the slowest target fills the axis and the others are proportional
    def total(row_widths: list[str]) -> float:
        return sum(float(w.rstrip("%")) for w in row_widths)

    slowest = max(rows, key=lambda r: r.total_ms)
    assert total([s.width for s in slowest.segments]) == pytest.approx(100, abs=0.01)
    for row in rows:
        assert total([s.width for s in row.segments]) == pytest.approx(
            100 * row.total_ms / slowest.total_ms, abs=0.01)
    # the DNS failure behind a working proxy tunnel is drawn as information
    login = next(r for r in rows if r.endpoint == "login-microsoft")
    assert login.segments[0].phase == "dns" and login.segments[0].status == "info"
    # and a failed phase is marked as such
    sml = next(r for r in rows if r.endpoint == "sml")
    assert [(s.phase, s.status) for s in sml.segments] == [("dns", "pass"), ("tcp", "fail")]


def test_certificates_come_from_the_tls_phase_data(sample_report: RunReport) -> None:
    # Given the sample report / When its certificate rows are built
    certs = {(c.endpoint, c.target): dict(c.fields) for c in certificates(sample_report)}
    # Then each TLS phase that saw a certificate has subject, issuer, SAN,
    # expiry and fingerprint, as the probe recorded them
    ca = certs[("webclient-ca", "169.55.3.3")]
    assert ca["Issuer"].startswith("CN=Zscaler Intermediate Root CA")
    assert ca["SAN"] == "webclient-ca.moviuscorp.net"
    assert ca["Not after"] == "2026-12-18T10:00:00Z"
    assert ca["SHA-256"] == "a1" * 32
    assert ("login-microsoft", "login.microsoftonline.com via proxy") in certs
    assert ("webclient-de", "158.177.2.2") not in certs  # reset before any certificate


def test_view_counts_and_context(sample_report: RunReport) -> None:
    # Given the sample report / When the page's view model is built
    v = view(sample_report)
    # Then the counters and the context are the report's
    assert v["findings_by_severity"] == {"fail": 10, "warn": 2, "info": 2}
    context = dict(v["context"])
    assert context["Host"] == "ws-0421.corp.example"
    assert context["Resolvers"] == "10.0.0.2"
    assert context["Proxy"] == "http://proxy.corp.example:3128"
    html = render(sample_report)
    for status, n in (("pass", 2), ("warn", 2), ("fail", 8), ("skip", 0)):
        assert (f'data-status="{status}"><div class="n">{n}</div>') in html


def test_golden_sample_html(sample_report: RunReport) -> None:
    # Given the sample run / When rendered / Then it matches golden/sample.html
    assert_golden("sample.html", render(sample_report))
