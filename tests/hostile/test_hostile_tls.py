"""Hostile TLS peers: a slowloris handshake, a 50-certificate chain, a chain
whose names form a cycle. Each ends in its code within the phase timeout."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from hostilekit import SLACK, TIMEOUT, Start, endpoint, run_phases

from netcheck.lab.hostile_servers import (
    TrickleTlsServer,
    cyclic_chain_context,
    deep_chain_context,
    deep_root,
)
from netcheck.lab.pki import LabPki
from netcheck.lab.tls_servers import TlsServer
from netcheck.probes import tls

HOST = "hostile-tls.lab.netcheck.test"


def bundle(tmp_path: Path, pem: bytes) -> Path:
    path = tmp_path / "ca.pem"
    path.write_bytes(pem)
    return path


async def test_slowloris_handshake_is_tls_timeout(pki: LabPki, start: Start) -> None:
    # Given a real TLS server whose handshake bytes leave one a second
    server = await start(TrickleTlsServer, pki.server_context(HOST), 1.0)
    # When the TCP and TLS phases run with a 1 s timeout
    ran = await run_phases(endpoint(HOST, server.port, "tls"), ca_bundle=pki.ca_bundle,
                           phases=("tcp", "tls"))
    # Then the handshake is given up at the timeout: tls.timeout
    r = ran.results["tls"]
    assert (r.code, r.status) == ("tls.timeout", "fail")
    assert r.detail == f"{HOST} at 127.0.0.1:{server.port}: the handshake did not complete."
    assert TIMEOUT * 0.9 <= ran.seconds < TIMEOUT + SLACK
    # And the server got out a byte or two, not its handshake; no second connection
    assert 1 <= server.bytes_sent <= 3
    assert server.accepted == 1


async def test_fifty_certificate_chain_to_a_trusted_root_verifies(
        pki: LabPki, start: Start, tmp_path: Path) -> None:
    # Given a leaf under 49 intermediates (50 certificates presented), below a
    # root whose path-length constraint allows it, trusted through --ca-bundle
    root = deep_root(49)
    server = await start(TlsServer, deep_chain_context(root, 49, HOST))
    # When the TLS phase runs (OpenSSL's default verify depth is 100)
    ran = await run_phases(endpoint(HOST, server.port, "tls"),
                           ca_bundle=bundle(tmp_path, root.cert_pem.bytes()),
                           phases=("tcp", "tls"))
    # Then it verifies on the first handshake: tls.ok, with the whole path in data
    r = ran.results["tls"]
    assert (r.code, r.status) == ("tls.ok", "pass"), r.detail
    assert r.detail.startswith(f"TLSv1.3 with {HOST} verified: issued by ")
    assert len(r.data["chain"]) == 50
    assert r.data["trusted_by"] == "public"
    assert server.accepted == 1
    assert ran.seconds < TIMEOUT + SLACK
    assert ran.peak_bytes < 8 * 1024 * 1024


async def test_fifty_certificate_chain_too_deep_for_its_root_is_untrusted(
        pki: LabPki, start: Start) -> None:
    # Given 50 intermediates below the lab vendor root, whose path length is 9
    server = await start(TlsServer, deep_chain_context(pki.vendor, 50, HOST))
    # When the TLS phase runs (verification fails: path length exceeded, so the
    # probe takes its second, unverified look and classifies 51 certificates)
    ran = await run_phases(endpoint(HOST, server.port, "tls"), ca_bundle=pki.ca_bundle,
                           phases=("tcp", "tls"))
    # Then it ends in time with tls.untrusted, OpenSSL's reason kept in data
    r = ran.results["tls"]
    assert (r.code, r.status) == ("tls.untrusted", "fail")
    assert r.data["verify_error"] == "path length constraint exceeded"
    assert len(r.data["chain"]) == 51
    assert server.accepted == 2
    assert ran.seconds < TIMEOUT + SLACK


async def test_too_deep_chain_names_the_path_length_not_a_missing_anchor(
        pki: LabPki, start: Start) -> None:
    # Given the same too-deep chain below the trusted vendor root
    server = await start(TlsServer, deep_chain_context(pki.vendor, 50, HOST))
    ran = await run_phases(endpoint(HOST, server.port, "tls"), ca_bundle=pki.ca_bundle,
                           phases=("tcp", "tls"))
    # Then the detail says what OpenSSL found, not that nothing trusts the root
    r = ran.results["tls"]
    assert r.code == "tls.untrusted"
    assert "path length constraint exceeded" in r.detail
    assert r.data["trusted_by"] == "public"


async def test_fifty_certificate_chain_for_another_host_is_hostname_mismatch(
        pki: LabPki, start: Start, tmp_path: Path) -> None:
    # Given a 50-certificate chain to a trusted root, for another name
    root = deep_root(49)
    server = await start(TlsServer, deep_chain_context(root, 49, "elsewhere.lab.netcheck.test"))
    ran = await run_phases(endpoint(HOST, server.port, "tls"),
                           ca_bundle=bundle(tmp_path, root.cert_pem.bytes()),
                           phases=("tcp", "tls"))
    # Then the verdict is the mismatch, as for a short chain
    r = ran.results["tls"]
    assert (r.code, r.status) == ("tls.hostname_mismatch", "fail"), r.detail


class _WalkBomb(Exception):
    """Raised by the counting wrapper once the chain walk has clearly exploded."""


async def test_cyclic_chain_walk_is_bounded(pki: LabPki, start: Start,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a server presenting 8 CA certificates whose names form a cycle X <-> Y,
    # each signed by every certificate of the other name (one key for all)
    server = await start(TlsServer, cyclic_chain_context(HOST, per_name=4))
    # And a count of the signature checks the chain walk makes (not a mock: the
    # real check runs; the count only stops a runaway walk after 5,000, where
    # the unbounded walk would make about 2 x 4**8 = 131,072, tens of seconds)
    checks = 0
    real = tls._signed_by

    def counted(child: Any, parent: Any) -> bool:
        nonlocal checks
        checks += 1
        if checks > 5000:
            raise _WalkBomb(f"{checks} signature checks")
        return real(child, parent)

    monkeypatch.setattr(tls, "_signed_by", counted)
    # When the TLS phase runs
    t0 = time.perf_counter()
    ran = await run_phases(endpoint(HOST, server.port, "tls"), ca_bundle=pki.ca_bundle,
                           phases=("tcp", "tls"))
    # Then it is tls.untrusted, quickly, after a walk linear in the chain
    r = ran.results["tls"]
    assert (r.code, r.status) == ("tls.untrusted", "fail")
    assert checks < 500
    assert time.perf_counter() - t0 < TIMEOUT + SLACK
