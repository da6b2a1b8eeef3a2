"""``netcheck consent-url``: the tenant's admin-consent URL, and whether the tenant exists.

The install guide's Azure step has the tenant's admin open
``https://login.microsoftonline.com/<tenant_id>/adminconsent?client_id=<client_id>``
with the vendor's client id. This command validates the tenant id (a GUID,
or a verified domain such as ``contoso.onmicrosoft.com``), prints the URL on
stdout, and with ``--check`` asks the tenant's public OpenID discovery
document whether the tenant exists:

    200 with an issuer naming a tenant GUID  -> it exists (the GUID is printed)  exit 0
    400 with AADSTS90002                     -> no such tenant                   exit 1
    any other answer, or no answer           -> said in one line                 exit 1

The check line goes to stderr, so ``URL=$(netcheck consent-url ...)`` keeps
only the URL. Proxies are chosen as for ``netcheck run`` (``--proxy``, else
HTTPS_PROXY/ALL_PROXY with NO_PROXY, unless ``--no-proxy``), and the server
is verified against the public web PKI plus ``--ca-bundle``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

if TYPE_CHECKING:
    from netcheck.probes.base import ProxyConfig

DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
# The install guide's client id for the vendor's Azure application.
DEFAULT_CLIENT_ID = "ee546f12-67ec-4432-b71a-fe7863b1fbfd"
DEFAULT_TIMEOUT = 10.0

_GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_GUID_IN = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_AADSTS = re.compile(r"AADSTS(\d+)")

EXIT_OK, EXIT_FAIL = 0, 1


def tenant_id(text: str) -> str:
    """A tenant GUID (lower-cased) or a verified-domain DNS name; else ValueError."""
    value = text.strip()
    if _GUID.match(value):
        return value.lower()
    name = value.rstrip(".").lower()
    labels = name.split(".")
    if (len(name) <= 253 and len(labels) >= 2 and all(_LABEL.match(x) for x in labels)
            and re.match(r"^[a-z][a-z0-9-]*$", labels[-1])):
        return name
    raise ValueError(f"tenant id {text!r} is neither a GUID "
                     "(xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx) nor a verified domain name "
                     "(contoso.onmicrosoft.com)")


def client_id(text: str) -> str:
    value = text.strip()
    if not _GUID.match(value):
        raise ValueError(f"client id {text!r} is not a GUID")
    return value.lower()


def authority(text: str) -> str:
    """An ``https://host[:port]`` base URL, without a trailing slash."""
    value = text.strip().rstrip("/")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises for a bad port
    except ValueError:
        raise ValueError(f"--authority {text!r} is not a URL") from None
    if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(f"--authority {text!r} must be an https:// URL without a query")
    return value


def consent_url(tenant: str, client: str, base: str = DEFAULT_AUTHORITY) -> str:
    return f"{base}/{quote(tenant, safe='')}/adminconsent?client_id={quote(client, safe='')}"


def discovery_url(tenant: str, base: str = DEFAULT_AUTHORITY) -> str:
    return f"{base}/{quote(tenant, safe='')}/v2.0/.well-known/openid-configuration"


# -- the check -----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class CheckResult:
    exists: bool | None  # None: could not tell
    message: str
    tenant_guid: str | None = None


def judge(tenant: str, status: int, body: bytes) -> CheckResult:
    """What a discovery-document answer says about the tenant (pure)."""
    try:
        doc = json.loads(body.decode("utf-8", errors="replace"))
    except ValueError:
        doc = None
    if status == 200:
        issuer = doc.get("issuer") if isinstance(doc, dict) else None
        found = _GUID_IN.search(issuer) if isinstance(issuer, str) else None
        if found is None:
            return CheckResult(None, f"tenant {tenant}: HTTP 200, but the answer is not an "
                                     "OpenID discovery document with a tenant issuer")
        guid = found.group().lower()
        return CheckResult(True, f"tenant {tenant} exists: tenant ID {guid}", guid)
    description = str(doc.get("error_description", "")) if isinstance(doc, dict) else ""
    codes = _AADSTS.findall(description)
    if status == 400 and "90002" in codes:
        return CheckResult(False, f"tenant {tenant} does not exist (AADSTS90002): check the "
                                  "tenant ID or domain in the Azure portal (Microsoft Entra ID, "
                                  "Overview)")
    if codes:
        first = description.split(". ", 1)[0]
        return CheckResult(False, f"tenant {tenant} was rejected (HTTP {status}): {first}")
    return CheckResult(None, f"tenant {tenant}: unexpected answer HTTP {status} from the "
                             "identity endpoint")


def check_tenant(tenant: str, base: str, *, proxy: ProxyConfig | None, ca_bundle: Path | None,
                 timeout: float) -> CheckResult:
    """Fetch the discovery document and :func:`judge` it; network failures are results."""
    import httpx

    from netcheck.probes.tls import public_context

    url = discovery_url(tenant, base)
    try:
        with httpx.Client(proxy=_proxy_url(proxy), verify=public_context(ca_bundle),
                          timeout=timeout, trust_env=False, follow_redirects=False) as client:
            response = client.get(url, headers={"Accept": "application/json",
                                                "User-Agent": _user_agent()})
    except httpx.TimeoutException:
        return CheckResult(None, f"could not check tenant {tenant}: no answer from "
                                 f"{_host(base)} within {timeout:g} s")
    except httpx.ProxyError as exc:
        return CheckResult(None, f"could not check tenant {tenant}: the proxy failed ({exc})")
    except httpx.HTTPError as exc:
        return CheckResult(None, f"could not check tenant {tenant}: {_host(base)} could not "
                                 f"be reached ({_reason(exc)})")
    return judge(tenant, response.status_code, response.content)


def _reason(exc: BaseException) -> str:
    # httpx wraps the OS or TLS error; its own text is often empty.
    inner = exc.__cause__ or exc.__context__
    text = str(exc) or (str(inner) if inner is not None else "") or type(exc).__name__
    return text


def _host(base: str) -> str:
    return urlsplit(base).netloc


def _user_agent() -> str:
    from netcheck import __version__

    return f"netcheck/{__version__}"


def _proxy_url(proxy: ProxyConfig | None) -> str | None:
    if proxy is None:
        return None
    auth = ""
    if proxy.username is not None:
        auth = f"{quote(proxy.username, safe='')}:{quote(proxy.password or '', safe='')}@"
    host = f"[{proxy.host}]" if ":" in proxy.host else proxy.host
    return f"{proxy.scheme}://{auth}{host}:{proxy.port}"


# -- the command ---------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    from netcheck import cli

    parser.description = ("Print the tenant's admin-consent URL for the vendor's Azure "
                          "application; with --check, also check that the tenant exists.")
    parser.add_argument("--tenant-id", required=True, metavar="ID",
                        help="the Azure AD (Entra ID) tenant: its GUID or a verified domain "
                             "(contoso.onmicrosoft.com)")
    parser.add_argument("--client-id", default=DEFAULT_CLIENT_ID, metavar="ID",
                        help=f"the application's client id (default: the install guide's, "
                             f"{DEFAULT_CLIENT_ID})")
    parser.add_argument("--check", action="store_true",
                        help="check through the public OpenID discovery document that the "
                             "tenant exists (exit 1 if not, or if it cannot be checked)")
    parser.add_argument("--authority", default=DEFAULT_AUTHORITY, metavar="URL",
                        help=f"identity endpoint (default: {DEFAULT_AUTHORITY})")
    parser.add_argument("--ca-bundle", type=Path, metavar="PEM",
                        help="extra trust anchors for the identity endpoint's certificate")
    proxy = parser.add_mutually_exclusive_group()
    proxy.add_argument("--proxy", metavar="URL",
                       help="HTTP(S) proxy (default: HTTPS_PROXY/ALL_PROXY, honouring NO_PROXY)")
    proxy.add_argument("--no-proxy", action="store_true",
                       help="ignore proxy environment variables and connect directly")
    parser.add_argument("--timeout", type=cli._positive_float, default=DEFAULT_TIMEOUT,
                        metavar="SECONDS", help=f"for --check (default: {DEFAULT_TIMEOUT:g} s)")


def main(args: argparse.Namespace) -> int:
    from netcheck import cli
    from netcheck.bundle import redact

    try:
        tenant = tenant_id(args.tenant_id)
        client = client_id(args.client_id)
        base = authority(args.authority)
    except ValueError as exc:
        raise cli.UsageError(str(exc)) from None
    print(consent_url(tenant, client, base))
    sys.stdout.flush()
    if not args.check:
        return EXIT_OK
    proxy, no_proxy = cli._proxy_settings(args)
    if args.ca_bundle is not None:
        cli._check_ca_bundle(args.ca_bundle)
    if proxy is not None and no_proxy:
        from netcheck.proxyconf import bypasses_proxy

        parts = urlsplit(base)
        if bypasses_proxy(parts.hostname or "", parts.port or 443, no_proxy):
            proxy = None
    result = check_tenant(tenant, base, proxy=proxy, ca_bundle=args.ca_bundle,
                          timeout=args.timeout)
    secrets = {proxy.password} if proxy is not None and proxy.password else set()
    print(f"netcheck: {redact(result.message, secrets)}", file=sys.stderr)
    return EXIT_OK if result.exists else EXIT_FAIL
