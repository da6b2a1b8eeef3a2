"""A lab stand-in for the Microsoft identity endpoint (login.microsoftonline.com).

It answers the one request ``netcheck consent-url --check`` makes, the
tenant's public OpenID discovery document, as the real service does:

* ``GET /<tenant>/v2.0/.well-known/openid-configuration`` for a known
  tenant (by GUID or by one of its verified domains): 200 with a JSON
  document whose ``issuer`` is ``https://login.microsoftonline.com/<GUID>/v2.0``;
* for an unknown tenant: 400 with ``error: invalid_tenant`` and an
  ``AADSTS90002: Tenant '<x>' not found`` description;
* any other path: 404.

Every answer has a ``Date`` header, shifted by ``clock_offset`` seconds, so
tests can play a server whose clock disagrees with ours. It serves HTTPS on
127.0.0.1 with a certificate for the IP address (``pki.server_context``), so
clients reach it as ``https://127.0.0.1:<port>`` without any name lookup.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import ssl
import time
from collections.abc import Mapping
from http import HTTPStatus
from types import TracebackType

import h11

from netcheck.lab.app_servers import StreamTlsServer, read_request

DISCOVERY_SUFFIX = "/v2.0/.well-known/openid-configuration"
REAL_AUTHORITY = "https://login.microsoftonline.com"  # only ever written into documents


def discovery_document(guid: str) -> dict[str, object]:
    """The fields of the real v2.0 discovery document that matter here."""
    base = f"{REAL_AUTHORITY}/{guid}"
    return {
        "token_endpoint": f"{base}/oauth2/v2.0/token",
        "jwks_uri": f"{REAL_AUTHORITY}/{guid}/discovery/v2.0/keys",
        "issuer": f"{base}/v2.0",
        "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "tenant_region_scope": "EU",
        "cloud_instance_name": "microsoftonline.com",
    }


def not_found_document(tenant: str) -> dict[str, object]:
    """What the real service answers (HTTP 400) for a tenant that does not exist."""
    return {
        "error": "invalid_tenant",
        "error_description": f"AADSTS90002: Tenant '{tenant}' not found. Check to make sure "
                             "you have the correct tenant ID and are signing into the correct "
                             "cloud. Trace ID: 00000000-0000-0000-0000-000000000000",
        "error_codes": [90002],
        "error_uri": f"{REAL_AUTHORITY}/error?code=90002",
    }


class IdentityServer(StreamTlsServer):
    """``tenants`` maps a tenant GUID to its verified domains."""

    def __init__(self, ssl_context: ssl.SSLContext,
                 tenants: Mapping[str, tuple[str, ...]], clock_offset: float = 0.0) -> None:
        super().__init__(ssl_context)
        self.clock_offset = clock_offset
        self._by_name: dict[str, str] = {}
        for guid, domains in tenants.items():
            for name in (guid, *domains):
                self._by_name[name.lower()] = guid.lower()
        self.requests: list[str] = []

    @property
    def authority(self) -> str:
        return f"https://{self.host}:{self.port}"

    async def __aenter__(self) -> IdentityServer:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()

    def answer(self, target: str) -> tuple[int, dict[str, object] | None]:
        path = target.split("?", 1)[0]
        if not path.startswith("/") or not path.endswith(DISCOVERY_SUFFIX):
            return 404, None
        tenant = path[1:-len(DISCOVERY_SUFFIX)]
        guid = self._by_name.get(tenant.lower())
        if guid is None:
            return 400, not_found_document(tenant)
        return 200, discovery_document(guid)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        http, request = await read_request(reader)
        if request is None:
            return
        target = request.target.decode("ascii", "replace")
        self.requests.append(target)
        status, document = self.answer(target)
        body = (json.dumps(document) if document is not None else "not found\n").encode()
        headers = [
            ("Date", email.utils.formatdate(time.time() + self.clock_offset, usegmt=True)),
            ("Content-Type", "application/json; charset=utf-8" if document is not None
             else "text/plain"),
            ("Content-Length", str(len(body))),
            ("Connection", "close"),
        ]
        data = http.send(h11.Response(status_code=status, headers=headers,
                                      reason=HTTPStatus(status).phrase)) or b""
        data += (http.send(h11.Data(data=body)) or b"") + (http.send(h11.EndOfMessage()) or b"")
        await self.send(writer, data)
