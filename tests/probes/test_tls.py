"""The TLS phase against real loopback TLS servers, one certificate (or
protocol) per verdict, and the pure verdict function on its own.

OpenSSL reports one verification error at a time, so every case has its own
certificate."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from netcheck.catalog import Endpoint, TlsPolicy
from netcheck.lab.pki import LabPki, days_from_now
from netcheck.lab.tcp_servers import ResettingServer, SilentServer, StreamServer
from netcheck.lab.tls_servers import WRONG_HOST, PlainHttpServer, Scenario, TlsServer
from netcheck.model import PhaseResult
from netcheck.probes import tcp, tls
from netcheck.probes.base import Connection, ProbeContext, ProbeOptions
from netcheck.probes.tls import CertInfo, Problem, VerifyError, classify

HOST = "wss.lab.netcheck.test"


@pytest.fixture(scope="module")
def pki() -> Iterator[LabPki]:
    lab = LabPki()
    yield lab
    lab.close()


@asynccontextmanager
async def scenario(pki: LabPki, name: Scenario) -> AsyncIterator[TlsServer]:
    async with TlsServer.for_scenario(pki, name, HOST) as server:
        yield server


async def probe(server: StreamServer, *, ca_bundle: Path | None, timeout: float = 1.0,
                policy: TlsPolicy | None = None, warn_days: int = 14
                ) -> tuple[PhaseResult, Connection | None]:
    """The TLS phase as the runner drives it: TCP first, reconnect by TCP."""
    endpoint = Endpoint(name="lab-wss", host=HOST, port=server.port, probe="wss",
                        timeout=timeout, tls=policy or TlsPolicy())

    async def reconnect() -> Connection:
        return await tcp.connect(server.host, server.port, timeout)

    ctx = ProbeContext(endpoint=endpoint, ip=server.host,
                       options=ProbeOptions(ca_bundle=ca_bundle, cert_warn_days=warn_days),
                       reconnect=reconnect)
    conn = await tcp.connect(server.host, server.port, timeout)
    try:
        return await tls.run(ctx, conn)
    finally:
        await conn.aclose()


def assert_cert_facts(data: dict[str, Any] | Any) -> None:
    for key in ("version", "cipher", "alpn", "subject", "issuer", "san", "not_before",
                "not_after", "sha256", "chain", "trusted_by", "verify_error", "problems"):
        assert key in data, key
    assert data["san"] == [HOST] or data["san"] == [WRONG_HOST]
    assert data["not_after"].endswith("Z")
    assert len(data["sha256"]) == 64


# -- real sockets ----------------------------------------------------------------

async def test_good_certificate_is_tls_ok_on_one_connection(pki: LabPki) -> None:
    # Given a server with the vendor's certificate, trusted through --ca-bundle
    async with scenario(pki, "good") as server:
        # When the TLS phase runs on the runner's connection
        result, conn = await probe(server, ca_bundle=pki.ca_bundle)
        # Then it verifies, upgrades that connection in place, and opened no other
        assert (result.code, result.status) == ("tls.ok", "pass")
        assert conn is not None and conn.tls
        assert server.accepted == 1 and server.handshakes == 1
    data = result.data
    assert_cert_facts(data)
    assert data["trusted_by"] == "public" and data["verify_error"] is None
    assert data["version"] == "TLSv1.3" and data["alpn"] == "http/1.1"
    assert data["issuer"].startswith("OU=Testing CA") and "netcheck lab vendor CA" in data["issuer"]
    assert data["problems"] == []
    assert result.detail == (f"TLSv1.3 with {HOST} verified: issued by {data['issuer']}, "
                             f"valid until {data['not_after']}.")


async def test_expired_certificate_fingerprint_is_the_lab_certificate(pki: LabPki) -> None:
    # Given a server whose certificate (made here, so its DER is known) has expired
    leaf = pki.vendor.issue_cert(HOST, not_before=days_from_now(-30),
                                 not_after=days_from_now(-1))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    leaf.configure_cert(context)
    der = ssl.PEM_cert_to_DER_cert(leaf.cert_chain_pems[0].bytes().decode())
    async with TlsServer(context) as server:
        # When the TLS phase runs
        result, _ = await probe(server, ca_bundle=pki.ca_bundle)
        # Then the code is tls.expired, from a second (unverified) look
        assert (result.code, result.status) == ("tls.expired", "fail")
        assert server.accepted == 2
    data = result.data
    # And the fingerprint is the certificate's, though it failed verification
    assert data["sha256"] == hashlib.sha256(der).hexdigest()
    assert data["verify_error"] == "certificate has expired"
    assert data["trusted_by"] == "public"
    assert result.detail == (f"{HOST} at 127.0.0.1:{server.port}: the certificate expired "
                             f"on {data['not_after']}.")


async def test_not_yet_valid_certificate(pki: LabPki) -> None:
    # Given a server whose certificate starts the day after tomorrow
    async with scenario(pki, "not_yet_valid") as server:
        # When the TLS phase runs
        result, _ = await probe(server, ca_bundle=pki.ca_bundle)
    # Then the code is tls.not_yet_valid and the detail names the start date
    assert (result.code, result.status) == ("tls.not_yet_valid", "fail")
    assert_cert_facts(result.data)
    assert f"is not valid before {result.data['not_before']}" in result.detail
    assert result.data["verify_error"] == "certificate is not yet valid"


async def test_wrong_host_is_hostname_mismatch(pki: LabPki) -> None:
    # Given a server presenting a good certificate for another name
    async with scenario(pki, "wrong_host") as server:
        # When the TLS phase runs
        result, _ = await probe(server, ca_bundle=pki.ca_bundle)
    # Then the code is tls.hostname_mismatch, naming both names
    assert (result.code, result.status) == ("tls.hostname_mismatch", "fail")
    assert_cert_facts(result.data)
    assert result.detail == (f"{HOST} at 127.0.0.1:{server.port}: the certificate names "
                             f"{WRONG_HOST}, not {HOST}.")
    assert result.data["verify_error"].startswith("Hostname mismatch")


async def test_rogue_ca_is_untrusted(pki: LabPki) -> None:
    # Given a server whose CA no trust set holds
    async with scenario(pki, "untrusted") as server:
        # When the TLS phase runs
        result, _ = await probe(server, ca_bundle=pki.ca_bundle)
    # Then the code is tls.untrusted, naming the issuer
    assert (result.code, result.status) == ("tls.untrusted", "fail")
    assert_cert_facts(result.data)
    assert result.data["trusted_by"] is None
    assert "netcheck lab unknown CA" in result.detail
    assert "trusted by neither the public web PKI nor the system store" in result.detail
    assert result.data["verify_error"] == "unable to get local issuer certificate"


async def test_enterprise_ca_in_system_store_is_intercepted(
        pki: LabPki, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a machine whose system store holds the enterprise CA
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.system_bundle))
    async with scenario(pki, "enterprise") as server:
        # When the TLS phase runs against a certificate that enterprise CA issued
        result, _ = await probe(server, ca_bundle=pki.ca_bundle)
    # Then it is tls.intercepted: only the system store trusts the chain
    assert (result.code, result.status) == ("tls.intercepted", "fail")
    assert result.data["trusted_by"] == "system"
    assert "netcheck lab enterprise CA" in result.detail
    assert "trusted by this host's system store only" in result.detail


async def test_enterprise_ca_without_system_trust_is_untrusted(pki: LabPki) -> None:
    # Given the same certificate on a machine whose store lacks the enterprise CA
    async with scenario(pki, "enterprise") as server:
        # When the TLS phase runs
        result, _ = await probe(server, ca_bundle=pki.ca_bundle)
    # Then nothing vouches for it: tls.untrusted (the store is read anew, not cached)
    assert (result.code, result.data["trusted_by"]) == ("tls.untrusted", None)


async def test_inspection_product_issuer_is_intercepted(pki: LabPki) -> None:
    # Given a server whose (untrusted) CA is named after Zscaler
    async with scenario(pki, "inspection") as server:
        # When the TLS phase runs
        result, _ = await probe(server, ca_bundle=pki.ca_bundle)
    # Then it is tls.intercepted, naming the product; untrusted is listed too
    assert (result.code, result.status) == ("tls.intercepted", "fail")
    assert "names the TLS-inspection product Zscaler" in result.detail
    assert [p["code"] for p in result.data["problems"]] == ["tls.intercepted", "tls.untrusted"]


async def test_expected_issuer_mismatch_is_intercepted(pki: LabPki) -> None:
    # Given a good server but an endpoint that expects DigiCert
    async with scenario(pki, "good") as server:
        # When the TLS phase runs
        result, _ = await probe(server, ca_bundle=pki.ca_bundle,
                                policy=TlsPolicy(expected_issuers=("DigiCert",)))
        # Then the verified chain is still not the vendor's: tls.intercepted
        assert server.accepted == 1
    assert (result.code, result.status) == ("tls.intercepted", "fail")
    assert "matches none of the expected issuers (DigiCert)" in result.detail


async def test_certificate_expiring_in_three_days_warns(pki: LabPki) -> None:
    # Given a good certificate that expires in 3 days
    async with scenario(pki, "expiring") as server:
        # When the TLS phase runs with a 14-day warning window
        result, conn = await probe(server, ca_bundle=pki.ca_bundle, warn_days=14)
        # Then it warns, on the one connection, which stays usable
        assert server.accepted == 1 and conn is not None and conn.tls
    assert (result.code, result.status) == ("tls.expiring_soon", "warn")
    assert result.data["days"] in (2, 3)
    assert f"the certificate expires on {result.data['not_after']}, in" in result.detail


async def test_tls11_only_server_is_tls_version(pki: LabPki) -> None:
    # Given a server that speaks only TLS 1.0-1.1 (its refusal is a bare
    # close: an asyncio/OpenSSL server drops the alert)
    async with scenario(pki, "tls11") as server:
        # When the TLS phase runs
        result, _ = await probe(server, ca_bundle=pki.ca_bundle)
    # Then the unverified look finds TLS 1.1: tls.version, not tls.reset
    assert (result.code, result.status) == ("tls.version", "fail")
    assert result.data["version"] == "TLSv1.1"
    assert "negotiated TLSv1.1, below the minimum TLS 1.2" in result.detail


async def test_tls12_server_below_a_13_minimum_is_tls_version(pki: LabPki) -> None:
    # Given a TLS 1.2-only server and an endpoint that requires TLS 1.3
    async with scenario(pki, "tls12") as server:
        # When the TLS phase runs
        result, _ = await probe(server, ca_bundle=pki.ca_bundle,
                                policy=TlsPolicy(min_version="1.3"))
        # Then the negotiated version is compared after the handshake
        assert server.accepted == 1
    assert (result.code, result.status) == ("tls.version", "fail")
    assert result.data["version"] == "TLSv1.2"
    assert result.detail == (f"{HOST} at 127.0.0.1:{server.port}: negotiated TLSv1.2, "
                             "below the minimum TLS 1.3.")


async def test_reset_after_client_hello_is_tls_reset(pki: LabPki) -> None:
    # Given a server that resets the connection once it has the ClientHello
    async with ResettingServer() as server:
        # When the TLS phase runs
        result, _ = await probe(server, ca_bundle=pki.ca_bundle)
        # Then it is tls.reset (the second look was reset as well)
        assert server.accepted == 2
    assert (result.code, result.status) == ("tls.reset", "fail")
    assert result.detail == (f"{HOST} at 127.0.0.1:{server.port}: the connection was "
                             "reset (RST) after the ClientHello.")


async def test_silent_server_is_tls_timeout(pki: LabPki) -> None:
    # Given a server that accepts and never answers the ClientHello
    async with SilentServer() as server:
        # When the TLS phase runs with a 0.5 s timeout
        started = time.monotonic()
        result, _ = await probe(server, ca_bundle=pki.ca_bundle, timeout=0.5)
        elapsed = time.monotonic() - started
    # Then it gives up after the timeout: tls.timeout
    assert (result.code, result.status) == ("tls.timeout", "fail")
    assert result.detail == (f"{HOST} at 127.0.0.1:{server.port}: the handshake did not "
                             "complete.")
    assert 0.45 <= elapsed < 1.5


async def test_plain_http_on_tls_port_is_protocol_error(pki: LabPki) -> None:
    # Given plain HTTP where TLS is expected
    async with PlainHttpServer() as server:
        # When the TLS phase runs
        result, _ = await probe(server, ca_bundle=pki.ca_bundle)
        assert server.accepted == 1
    # Then it is tls.protocol_error, with OpenSSL's reason
    assert (result.code, result.status) == ("tls.protocol_error", "fail")
    assert "wrong version number" in result.detail


async def test_connection_closed_before_hello_is_tls_reset(pki: LabPki) -> None:
    # Given a server that closes as soon as it accepts
    async def close_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async with StreamServer(close_at_once) as server:
        # When the TLS phase runs
        result, _ = await probe(server, ca_bundle=pki.ca_bundle)
    # Then it is tls.reset
    assert (result.code, result.status) == ("tls.reset", "fail")


# -- the pure verdict -------------------------------------------------------------

NOW = dt.datetime(2026, 12, 4, 10, 0, tzinfo=dt.UTC)


def cert(*, issuer: str = "CN=Vendor CA,O=Vendor", san: tuple[str, ...] = (HOST,),
         days_left: float = 300, days_old: float = 30, subject: str = f"CN={HOST}") -> CertInfo:
    return CertInfo(subject=subject, issuer=issuer, san=san,
                    not_before=NOW - dt.timedelta(days=days_old),
                    not_after=NOW + dt.timedelta(days=days_left), sha256="00" * 32)


def test_classify_clean_chain_is_ok() -> None:
    assert classify([cert()], HOST, NOW, None, False, TlsPolicy(), 14) == ("tls.ok", [])


def test_classify_precedence_lists_every_problem() -> None:
    # Given an expired, wrong-host certificate from a CA nobody trusts
    chain = [cert(san=("other.example",), days_left=-2)]
    verify = VerifyError(20, "unable to get local issuer certificate")
    # When classified
    code, problems = classify(chain, HOST, NOW, verify, False, TlsPolicy(), 14)
    # Then untrusted wins, and all three defects are listed in precedence order
    assert code == "tls.untrusted"
    assert [p.code for p in problems] == ["tls.untrusted", "tls.hostname_mismatch",
                                          "tls.expired"]


def test_classify_inspection_beats_untrusted_and_version_beats_expiring() -> None:
    chain = [cert(issuer="CN=Zscaler Intermediate Root CA,O=Zscaler Inc.", days_left=3)]
    code, problems = classify(chain, HOST, NOW, VerifyError(20, "x"), False, TlsPolicy(), 14,
                              version="TLSv1.1")
    assert code == "tls.intercepted"
    assert [p.code for p in problems] == ["tls.intercepted", "tls.untrusted", "tls.version",
                                          "tls.expiring_soon"]
    code, problems = classify([cert(days_left=3)], HOST, NOW, None, False, TlsPolicy(), 14,
                              version="TLSv1.1")
    assert code == "tls.version"


def test_classify_system_only_trust_is_intercepted() -> None:
    code, problems = classify([cert(issuer="CN=Corp Root")], HOST, NOW, VerifyError(20, "x"),
                              True, TlsPolicy(), 14)
    assert code == "tls.intercepted"
    assert problems == [Problem("tls.intercepted", "the chain to CN=Corp Root is trusted by "
                                "this host's system store only, not by the public web PKI")]


def test_classify_checks_intermediates_dates() -> None:
    # Given a good leaf under an intermediate that expired / expires soon
    leaf = cert()
    for days, expected in ((-1, "tls.expired"), (5, "tls.expiring_soon")):
        inter = cert(subject="CN=Vendor Intermediate", days_left=days, san=())
        code, problems = classify([leaf, inter], HOST, NOW, None, False, TlsPolicy(), 14)
        assert code == expected
        assert "the intermediate CN=Vendor Intermediate" in problems[0].detail


def test_classify_unexplained_openssl_error_is_untrusted() -> None:
    code, problems = classify([cert()], HOST, NOW, VerifyError(24, "invalid CA certificate"),
                              False, TlsPolicy(), 14)
    assert code == "tls.untrusted"
    assert problems[0].detail == "OpenSSL rejected the chain: invalid CA certificate"


def test_classify_without_chain_falls_back_to_the_verify_code() -> None:
    assert classify([], HOST, NOW, VerifyError(10, "certificate has expired"), False,
                    TlsPolicy(), 14)[0] == "tls.expired"


def test_hostname_matching() -> None:
    assert tls.hostname_matches("a.example.com", ["*.example.com"])
    assert not tls.hostname_matches("a.b.example.com", ["*.example.com"])
    assert not tls.hostname_matches("example.com", ["*.example.com"])
    assert tls.hostname_matches("A.Example.com.", ["a.example.com"])
    assert tls.hostname_matches("127.0.0.1", ["127.0.0.1"])
    assert not tls.hostname_matches("127.0.0.1", ["*.0.0.1"])


def test_dn_from_ssl_matches_cryptography_order() -> None:
    rdns = ((("countryName", "US"),), (("organizationName", "Acme, Inc."),),
            (("commonName", "Acme CA"),))
    assert tls.dn_from_ssl(rdns) == "CN=Acme CA,O=Acme\\, Inc.,C=US"


def test_prober_registration() -> None:
    assert tls.PROBER.phase == "tls" and tls.PROBER.timeout_code == "tls.timeout"


async def test_failed_handshake_leaves_a_closed_connection(pki: LabPki) -> None:
    # Given a server whose certificate fails verification
    async with scenario(pki, "untrusted") as server:
        endpoint = Endpoint(name="lab-wss", host=HOST, port=server.port, probe="wss",
                            timeout=1.0)
        ctx = ProbeContext(endpoint=endpoint, ip=server.host,
                           options=ProbeOptions(ca_bundle=pki.ca_bundle))
        conn = await tcp.connect(server.host, server.port, 1.0)
        # When the TLS phase runs (no reconnect: verdict from OpenSSL's error alone)
        result, returned = await tls.run(ctx, conn)
        # Then the code still follows the error, and the connection is dead
        # and closes at once (no wait for a close that never comes)
        assert result.code == "tls.untrusted"
        assert result.data["inspect_error"] == "no second connection possible"
        assert returned is conn and conn.reader.at_eof()
        started = time.monotonic()
        await conn.aclose()
        assert time.monotonic() - started < 0.2


def test_importing_the_probe_does_not_load_cryptography() -> None:
    # Given a fresh interpreter / When the TLS probe is imported
    import subprocess
    import sys

    import netcheck
    repo = str(Path(netcheck.__file__).resolve().parent.parent)
    code = "import sys, netcheck.probes.tls; print('cryptography' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={"PYTHONPATH": repo}).stdout.strip()
    # Then cryptography is left for the failure path
    assert out == "False"


# -- pinned keys (tls.pin_sha256) through a real socket ------------------------------

def spki_pin(pem: bytes) -> str:
    """The pin as `openssl ... | openssl dgst -sha256 -binary | base64` makes
    it, computed independently of the probe's own DER walk."""
    import base64

    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    spki = x509.load_pem_x509_certificate(pem).public_key().public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def leaf_server(pki: LabPki, *, not_after: dt.datetime | None = None
                ) -> tuple[TlsServer, bytes]:
    """A vendor-CA server whose leaf the test can see (to pin it)."""
    leaf = pki.vendor.issue_cert(HOST, not_after=not_after)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    leaf.configure_cert(ctx)
    ctx.set_alpn_protocols(["http/1.1"])
    return TlsServer(ctx), leaf.cert_chain_pems[0].bytes()


async def test_pinned_leaf_key_passes_and_every_key_is_recorded(pki: LabPki) -> None:
    # Given an endpoint pinning the key of the certificate the server presents
    server, leaf_pem = leaf_server(pki)
    pin = spki_pin(leaf_pem)
    async with server:
        # When the TLS phase runs
        result, _ = await probe(server, ca_bundle=pki.ca_bundle,
                                policy=TlsPolicy(pin_sha256=(pin,)))
    # Then it passes, and the chain's and the anchor's pins are in data
    assert (result.code, result.status) == ("tls.ok", "pass")
    assert result.data["spki_sha256"] == [pin]
    assert result.data["chain"][0]["spki_sha256"] == pin
    assert result.data["anchor_spki_sha256"] == spki_pin(pki.vendor.cert_pem.bytes())


async def test_pinned_anchor_key_passes(pki: LabPki) -> None:
    # Given an endpoint pinning the vendor root (HPKP allows any key of the path)
    pin = spki_pin(pki.vendor.cert_pem.bytes())
    async with scenario(pki, "good") as server:
        # When the TLS phase runs
        result, _ = await probe(server, ca_bundle=pki.ca_bundle,
                                policy=TlsPolicy(pin_sha256=(pin,)))
    # Then the path verified to the pinned root: tls.ok
    assert (result.code, result.status) == ("tls.ok", "pass")


async def test_pin_mismatch_is_intercepted_even_when_verified(pki: LabPki) -> None:
    # Given a server whose chain verifies, but an endpoint pinning another key
    other = spki_pin(pki.rogue.cert_pem.bytes())
    async with scenario(pki, "good") as server:
        # When the TLS phase runs
        result, _ = await probe(server, ca_bundle=pki.ca_bundle,
                                policy=TlsPolicy(pin_sha256=(other,)))
        # Then on the one verified connection it is tls.intercepted, naming the issuer
        assert server.accepted == 1
    assert (result.code, result.status) == ("tls.intercepted", "fail")
    assert "no certificate key in the chain issued by OU=Testing CA" in result.detail
    assert f"O=netcheck lab vendor CA matches the pinned keys ({other})" in result.detail
    assert result.data["trusted_by"] == "public"


async def test_pinned_root_under_an_expired_leaf_is_expired_not_intercepted(
        pki: LabPki) -> None:
    # Given an expired leaf of the pinned vendor root (the failure path: the
    # root is found in the public store, not in the presented chain)
    server, _ = leaf_server(pki, not_after=days_from_now(-1))
    pin = spki_pin(pki.vendor.cert_pem.bytes())
    async with server:
        # When the TLS phase runs
        result, _ = await probe(server, ca_bundle=pki.ca_bundle,
                                policy=TlsPolicy(pin_sha256=(pin,)))
    # Then the pin holds and the defect is the date alone
    assert (result.code, result.status) == ("tls.expired", "fail")
    assert [p["code"] for p in result.data["problems"]] == ["tls.expired"]
    assert result.data["anchor_spki_sha256"] == pin


async def test_pin_mismatch_behind_enterprise_ca_is_intercepted(
        pki: LabPki, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the enterprise CA in the system store and an endpoint pinning the vendor root
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.system_bundle))
    pin = spki_pin(pki.vendor.cert_pem.bytes())
    async with scenario(pki, "enterprise") as server:
        # When the TLS phase runs
        result, _ = await probe(server, ca_bundle=pki.ca_bundle,
                                policy=TlsPolicy(pin_sha256=(pin,)))
    # Then both the system-only trust and the pin say intercepted
    assert result.code == "tls.intercepted"
    assert [p["code"] for p in result.data["problems"]] == ["tls.intercepted"] * 2
    assert result.data["anchor_spki_sha256"] == spki_pin(pki.enterprise.cert_pem.bytes())


def test_spki_walk_matches_cryptography_for_rsa_and_ec() -> None:
    # Given certificates with EC (trustme's default) and RSA keys
    import trustme
    for ca in (trustme.CA(), trustme.CA(key_type=trustme.KeyType.RSA)):
        pem = ca.cert_pem.bytes()
        der = ssl.PEM_cert_to_DER_cert(pem.decode())
        # Then the DER walk gives the same pin as cryptography
        assert tls.spki_sha256(der) == spki_pin(pem)
    # And garbage is no pin rather than an exception
    assert tls.spki_sha256(b"\x30\x82\xff") == ""
    assert tls.spki_sha256(b"") == ""


def test_classify_pin_mismatch_is_intercepted() -> None:
    import dataclasses
    leaf = dataclasses.replace(cert(), spki_sha256="A" * 43 + "=")
    pinned = TlsPolicy(pin_sha256=("A" * 43 + "=",))
    assert classify([leaf], HOST, NOW, None, False, pinned, 14) == ("tls.ok", [])
    assert classify([cert()], HOST, NOW, None, False, pinned, 14,
                    anchor_spki="A" * 43 + "=") == ("tls.ok", [])
    code, problems = classify([cert()], HOST, NOW, None, False, pinned, 14)
    assert code == "tls.intercepted"
    assert problems[0].detail.startswith("no certificate key in the chain issued by CN=Vendor CA")


# -- intermediates' expiry through a real socket ---------------------------------------

def chain_with_intermediate(workdir: Path, inter_not_after: dt.datetime
                            ) -> tuple[ssl.SSLContext, Path]:
    """root -> intermediate (expiring when asked) -> leaf, built with
    cryptography because trustme cannot set an intermediate's dates.
    Returns the server context (leaf + intermediate) and the root's PEM."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def make(subject: str, issuer: x509.Name | None, signer: ec.EllipticCurvePrivateKey | None,
             not_after: dt.datetime, ca: bool) -> tuple[x509.Certificate,
                                                        ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        builder = (x509.CertificateBuilder().subject_name(name)
                   .issuer_name(issuer or name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(days=30)).not_valid_after(not_after)
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if ca:
            builder = builder.add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        else:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
        return builder.sign(signer or key, hashes.SHA256()), key

    root, root_key = make("netcheck lab chain root", None, None,
                          now + dt.timedelta(days=365), True)
    inter, inter_key = make("netcheck lab intermediate", root.subject, root_key,
                            inter_not_after, True)
    leaf, leaf_key = make(HOST, inter.subject, inter_key, now + dt.timedelta(days=200), False)
    pem = serialization.Encoding.PEM
    chain_file, key_file, root_file = (workdir / n for n in ("chain.pem", "key.pem", "root.pem"))
    chain_file.write_bytes(leaf.public_bytes(pem) + inter.public_bytes(pem))
    key_file.write_bytes(leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()))
    root_file.write_bytes(root.public_bytes(pem))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(chain_file, key_file)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx, root_file


async def test_intermediate_expiring_soon_warns(tmp_path: Path) -> None:
    # Given a good leaf under an intermediate that expires in 5 days
    ctx, root = chain_with_intermediate(tmp_path, days_from_now(5))
    async with TlsServer(ctx) as server:
        # When the TLS phase runs (the chain verifies: the happy path)
        result, _ = await probe(server, ca_bundle=root)
    # Then it warns about the intermediate, not the leaf
    assert (result.code, result.status) == ("tls.expiring_soon", "warn")
    assert "the intermediate CN=netcheck lab intermediate expires on" in result.detail
    assert result.data["days"] in (4, 5)
    assert len(result.data["spki_sha256"]) == 2


async def test_expired_intermediate_is_expired(tmp_path: Path) -> None:
    # Given a good leaf under an intermediate that expired yesterday
    ctx, root = chain_with_intermediate(tmp_path, days_from_now(-1))
    async with TlsServer(ctx) as server:
        # When the TLS phase runs (OpenSSL refuses: the second look reads the chain)
        result, _ = await probe(server, ca_bundle=root)
    # Then it is tls.expired, naming the intermediate
    assert (result.code, result.status) == ("tls.expired", "fail")
    assert "the intermediate CN=netcheck lab intermediate expired on" in result.detail
    assert result.data["verify_error"] == "certificate has expired"


# -- --cert-warn-days through the CLI ------------------------------------------------

@pytest.mark.parametrize(("days", "code", "exit_code"), [
    ("1", "tls.ok", 0), ("30", "tls.expiring_soon", 0), (None, "tls.expiring_soon", 0)])
async def test_cert_warn_days_reaches_the_probe_from_the_cli(
        pki: LabPki, tmp_path: Path, days: str | None, code: str, exit_code: int) -> None:
    # Given a server whose certificate (for the address itself, so that no
    # name is resolved) expires in 3 days
    import json
    import os
    import sys

    ctx = pki.server_context("127.0.0.1", not_before=days_from_now(-60),
                             not_after=days_from_now(3), alpn=["http/1.1"])
    async with TlsServer(ctx) as server:
        catalog = tmp_path / "c.yaml"
        catalog.write_text("version: 1\nendpoints:\n  - {name: soon, host: 127.0.0.1, "
                           f"port: {server.port}, probe: tls, timeout: 1}}\n")
        # When `netcheck run` runs with --cert-warn-days 1 / 30 / the default 14
        args = ["--cert-warn-days", days] if days is not None else []
        env = {k: v for k, v in os.environ.items()
               if k.lower() not in ("https_proxy", "all_proxy", "no_proxy", "http_proxy")}
        proc = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "netcheck"), "run", "--catalog", str(catalog),
            "--ca-bundle", str(pki.ca_bundle), "--no-proxy", "--format", "json",
            "--output", "-", *args, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    # Then 1 day lets the 3-day certificate pass, 30 and 14 make it warn
    doc = json.loads(out)
    (target,) = doc["endpoints"][0]["targets"]
    tls_phase = next(p for p in target["phases"] if p["phase"] == "tls")
    assert tls_phase["code"] == code, err.decode()
    assert proc.returncode == exit_code
    assert doc["options"]["cert_warn_days"] == int(days or 14)
    assert doc["endpoints"][0]["status"] == ("pass" if code == "tls.ok" else "warn")
