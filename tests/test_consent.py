"""``netcheck consent-url``: tenant validation, the URL, and the tenant check
against a lab identity endpoint (real HTTPS on 127.0.0.1, certificate for the
IP, made at test time). The real login.microsoftonline.com is never asked:
every --check passes --authority https://127.0.0.1:PORT."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from netcheck import consent
from netcheck.lab.identity_server import IdentityServer
from netcheck.lab.pki import LabPki
from netcheck.lab.proxy_server import LabProxy
from netcheck.lab.tcp_servers import RefusingPort, SilentServer

NETCHECK = str(Path(sys.executable).parent / "netcheck")
TENANT = "0f3c2a71-5b6e-4d8a-9c1b-2e7f4a6d8b90"
GUIDE_CLIENT = "ee546f12-67ec-4432-b71a-fe7863b1fbfd"


@pytest.fixture(scope="module")
def pki() -> Iterator[LabPki]:
    made = LabPki()
    yield made
    made.close()


@pytest.fixture
async def identity(pki: LabPki) -> AsyncIterator[IdentityServer]:
    ctx = pki.server_context("127.0.0.1")
    async with IdentityServer(ctx, {TENANT: ("contoso.onmicrosoft.com", "contoso.com")}) as s:
        yield s


async def netcheck(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """The installed command, run while this test's event loop keeps serving."""
    proc = await asyncio.create_subprocess_exec(
        NETCHECK, "consent-url", *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={**os.environ, **(env or {})})
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode or 0, out.decode(), err.decode()


def _check(server: IdentityServer | str, pki: LabPki, *extra: str) -> list[str]:
    base = server if isinstance(server, str) else server.authority
    return ["--check", "--authority", base, "--ca-bundle", str(pki.ca_bundle),
            "--timeout", "1", *extra]


# -- validation and the URL (pure) ----------------------------------------------------------

@pytest.mark.parametrize(("given", "kept"), [
    (TENANT.upper(), TENANT),
    ("Contoso.onmicrosoft.com", "contoso.onmicrosoft.com"),
    ("contoso.com.", "contoso.com"),
    ("a-b.example.co.uk", "a-b.example.co.uk"),
])
def test_tenant_ids_accepted(given: str, kept: str) -> None:
    # Given a GUID or a verified-domain form / When validated / Then it is normalised
    assert consent.tenant_id(given) == kept


@pytest.mark.parametrize("given", [
    "", "common", "contoso", "0f3c2a71-5b6e-4d8a-9c1b-2e7f4a6d8b9", "-bad.example.com",
    "bad-.example.com", "contoso.com/../x", "con toso.com", "x" * 64 + ".com", "contoso.123",
])
def test_tenant_ids_rejected(given: str) -> None:
    # Given something that is neither / When validated / Then one clear error
    with pytest.raises(ValueError, match="neither a GUID"):
        consent.tenant_id(given)


def test_consent_url_is_encoded_and_uses_the_guides_client_id() -> None:
    # Given the defaults / When the URL is built / Then it is the install guide's format
    assert consent.consent_url(TENANT, consent.DEFAULT_CLIENT_ID) == (
        f"https://login.microsoftonline.com/{TENANT}/adminconsent?client_id={GUIDE_CLIENT}")
    # and a component is percent-encoded (never able to add a path or a parameter)
    assert consent.consent_url("a/b?c", "d&e=f", "https://x") == \
        "https://x/a%2Fb%3Fc/adminconsent?client_id=d%26e%3Df"


def test_judge_reads_the_answers_of_the_real_service() -> None:
    # Given the service's answers for a good tenant, a missing one and another error
    ok = consent.judge("contoso.com", 200,
                       b'{"issuer": "https://login.microsoftonline.com/' + TENANT.encode()
                       + b'/v2.0"}')
    missing = consent.judge("x.com", 400, b'{"error_description": "AADSTS90002: Tenant '
                                          b'\'x.com\' not found. Check..."}')
    other = consent.judge("x.com", 400, b'{"error_description": "AADSTS900023: Specified '
                                        b'tenant identifier is invalid. Trace"}')
    garbage = consent.judge("x.com", 200, b"<html>captive portal</html>")
    # Then each is told apart
    assert (ok.exists, ok.tenant_guid) == (True, TENANT)
    assert missing.exists is False and "AADSTS90002" in missing.message
    assert other.exists is False and "Specified tenant identifier is invalid" in other.message
    assert garbage.exists is None and "not an OpenID discovery document" in garbage.message


# -- the command -----------------------------------------------------------------------------

async def test_prints_the_url_without_contacting_anything() -> None:
    # When run without --check
    code, out, err = await netcheck("--tenant-id", "Contoso.onmicrosoft.com")
    # Then the URL is the only output
    assert (code, err) == (0, "")
    assert out == ("https://login.microsoftonline.com/contoso.onmicrosoft.com/adminconsent"
                   f"?client_id={GUIDE_CLIENT}\n")


async def test_bad_tenant_id_exits_2_with_one_line() -> None:
    # When the tenant id is neither form
    code, out, err = await netcheck("--tenant-id", "not a tenant")
    # Then exit 2, one line, nothing on stdout
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and err.startswith("netcheck: tenant id 'not a tenant'")


async def test_bad_client_id_and_authority_exit_2() -> None:
    assert (await netcheck("--tenant-id", TENANT, "--client-id", "nope"))[0] == 2
    code, _, err = await netcheck("--tenant-id", TENANT, "--authority", "http://127.0.0.1:1")
    assert code == 2 and "https://" in err


async def test_check_finds_a_tenant_by_guid(identity: IdentityServer, pki: LabPki) -> None:
    # Given the lab identity endpoint knowing the tenant
    # When checked by GUID
    code, out, err = await netcheck("--tenant-id", TENANT, *_check(identity, pki))
    # Then exit 0; the URL (on the given authority) on stdout, the verdict on stderr
    assert code == 0, err
    assert out == f"{identity.authority}/{TENANT}/adminconsent?client_id={GUIDE_CLIENT}\n"
    assert err == f"netcheck: tenant {TENANT} exists: tenant ID {TENANT}\n"
    assert identity.requests == [f"/{TENANT}/v2.0/.well-known/openid-configuration"]


async def test_check_by_domain_prints_the_tenant_guid(identity: IdentityServer,
                                                      pki: LabPki) -> None:
    # When checked by a verified domain
    code, _, err = await netcheck("--tenant-id", "contoso.com", *_check(identity, pki))
    # Then the tenant's GUID is told
    assert code == 0, err
    assert f"tenant contoso.com exists: tenant ID {TENANT}" in err


async def test_check_unknown_tenant_exits_1(identity: IdentityServer, pki: LabPki) -> None:
    # When a tenant the service does not know is checked
    code, out, err = await netcheck("--tenant-id", "fabrikam.onmicrosoft.com",
                                    *_check(identity, pki))
    # Then exit 1, saying so (the URL is still printed)
    assert code == 1
    assert "fabrikam.onmicrosoft.com/adminconsent" in out
    assert "tenant fabrikam.onmicrosoft.com does not exist (AADSTS90002)" in err


async def test_check_with_nothing_listening_says_so(pki: LabPki) -> None:
    # Given an authority where the kernel refuses connections
    async with RefusingPort() as port:
        # When checked
        code, _, err = await netcheck("--tenant-id", TENANT,
                                      *_check(f"https://127.0.0.1:{port.port}", pki))
    # Then exit 1: it could not be checked
    assert code == 1
    assert f"could not check tenant {TENANT}: 127.0.0.1:{port.port} could not be reached" in err


async def test_check_timeout_says_so(pki: LabPki) -> None:
    # Given an authority that accepts and never answers
    async with SilentServer() as silent:
        code, _, err = await netcheck("--tenant-id", TENANT,
                                      *_check(f"https://127.0.0.1:{silent.port}", pki))
    # Then exit 1 within the timeout, naming it
    assert code == 1
    assert f"no answer from 127.0.0.1:{silent.port} within 1 s" in err


async def test_check_refuses_an_untrusted_certificate(identity: IdentityServer) -> None:
    # Given the lab endpoint, without its CA
    code, _, err = await netcheck("--tenant-id", TENANT, "--check", "--authority",
                                  identity.authority, "--timeout", "1")
    # Then the check fails on verification, not silently
    assert code == 1
    assert "could not be reached" in err and "CERTIFICATE_VERIFY_FAILED" in err


async def test_check_goes_through_the_proxy_and_never_shows_its_password(
        identity: IdentityServer, pki: LabPki) -> None:
    # Given a CONNECT proxy needing credentials, given in HTTPS_PROXY
    proxy = LabProxy(hosts={"127.0.0.1": "127.0.0.1"}, credentials=("user", "s3cret"),
                     allowed_ports=None)
    await proxy.start()
    try:
        # When checked with the proxy from the environment
        code, out, err = await netcheck("--tenant-id", TENANT, *_check(identity, pki),
                                        env={"HTTPS_PROXY": proxy.url})
        # and once more with wrong credentials
        bad = proxy.url.replace("s3cret", "wr0ng-pw")
        bad_code, _, bad_err = await netcheck("--tenant-id", TENANT, *_check(identity, pki),
                                              "--proxy", bad)
    finally:
        await proxy.stop()
    # Then the tunnel was used, and the password appears nowhere
    assert code == 0, err
    assert proxy.tunnels == 1
    assert proxy.requests[0] == f"127.0.0.1:{identity.port}"
    assert bad_code == 1
    assert "proxy" in bad_err
    for text in (out, err, bad_err):
        assert "s3cret" not in text and "wr0ng-pw" not in text
