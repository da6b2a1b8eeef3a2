"""Which proxy to use, chosen the way curl chooses it; pure functions only.

* :func:`parse_proxy_url` turns ``--proxy`` or an environment value into a
  :class:`~netcheck.probes.base.ProxyConfig`.
* :func:`proxy_from_env` / :func:`no_proxy_from_env` read the variables curl
  reads for an ``https://`` URL, in curl's order.
* :func:`bypasses_proxy` is curl's ``NO_PROXY`` matching (``lib/noproxy.c``).
* :func:`redact` removes proxy credentials from any text before it is shown,
  logged or written into a report.

Following curl matters because the network team compares netcheck's verdict
with what ``curl -v https://host`` does on the same machine: the same
variables must select the same proxy, and the same NO_PROXY list must exempt
the same hosts.
"""

from __future__ import annotations

import base64
import ipaddress
import re
from collections.abc import Mapping
from urllib.parse import quote, unquote, urlsplit

from netcheck.probes.base import ProxyConfig

# curl's CURL_DEFAULT_PROXY_PORT and CURL_DEFAULT_HTTPS_PROXY_PORT (lib/url.h):
# an http:// proxy without a port is on 1080, an https:// one on 443.
DEFAULT_PORTS = {"http": 1080, "https": 443}

_SOCKS = ("socks4", "socks4a", "socks5", "socks5h")

# curl reads the scheme-specific variable first, lowercase before uppercase,
# then ALL_PROXY. An empty value counts as unset (curl_getenv returns NULL for
# it), so ``https_proxy=`` does not hide ``HTTPS_PROXY``.
PROXY_ENV_VARS = ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")
NO_PROXY_ENV_VARS = ("no_proxy", "NO_PROXY")

_HOSTNAME = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?"
                       r"(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?$")
# scheme://userinfo@ -- the userinfo of any URL in a text, up to the last '@'
# before the host (a password may itself contain a raw '@').
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s?#]*@")


def parse_proxy_url(url: str) -> ProxyConfig:
    """``http://[user:pass@]host[:port]`` or ``https://...`` as a ProxyConfig.

    Like curl: no scheme means ``http://``; the default port is 1080 for
    http and 443 for https; user and password are percent-decoded; a path is
    ignored. SOCKS is not supported. Raises ValueError with one line that
    never contains the credentials.
    """
    text = url.strip()
    if not text:
        raise ValueError("the proxy URL is empty")
    shown = redact_url(text)
    if "://" not in text:
        text = "http://" + text
    try:
        parts = urlsplit(text)
    except ValueError as exc:
        raise ValueError(f"{shown} is not a URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme in _SOCKS:
        raise ValueError(f"{shown}: SOCKS proxies are not supported; "
                         "give an HTTP or HTTPS proxy (http://host:port)")
    if scheme not in DEFAULT_PORTS:
        raise ValueError(f"{shown}: unsupported proxy scheme {scheme!r}; "
                         "use http:// or https://")
    if parts.path.lower().endswith((".pac", ".dat")):
        raise ValueError(f"{shown} looks like a proxy auto-config (PAC) file; "
                         "give the proxy it names, as http://host:port")
    host = parts.hostname or ""
    if not host:
        raise ValueError(f"{shown}: no proxy host")
    if not _valid_host(host):
        raise ValueError(f"{shown}: {host!r} is not a host name or IP address")
    try:
        explicit_port = parts.port
    except ValueError:
        raise ValueError(f"{shown}: the port is not a number in 1-65535") from None
    if explicit_port == 0:
        raise ValueError(f"{shown}: the port is not a number in 1-65535")
    port = explicit_port if explicit_port is not None else DEFAULT_PORTS[scheme]
    username = password = None
    if parts.username is not None:
        username = unquote(parts.username)
        # curl sends "user:" for a user without a password.
        password = unquote(parts.password) if parts.password is not None else ""
    return ProxyConfig(scheme=scheme, host=host, port=port,
                       username=username, password=password)


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return len(host) <= 253 and _HOSTNAME.match(host) is not None
    return True


def proxy_from_env(environ: Mapping[str, str]) -> ProxyConfig | None:
    """The proxy curl would use for an ``https://`` URL, or None.

    ``https_proxy``, ``HTTPS_PROXY``, ``all_proxy``, ``ALL_PROXY``: the first
    that is set and not empty wins. (``http_proxy`` is not read: curl uses it
    for ``http://`` URLs only, and every endpoint here is reached with TLS.)
    Raises ValueError naming the variable when its value is unusable.
    """
    for name in PROXY_ENV_VARS:
        value = environ.get(name, "")
        if value.strip():
            try:
                return parse_proxy_url(value)
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
    return None


def no_proxy_from_env(environ: Mapping[str, str]) -> str:
    """The NO_PROXY list curl would use: ``no_proxy``, else ``NO_PROXY``."""
    for name in NO_PROXY_ENV_VARS:
        value = environ.get(name, "")
        if value:
            return value
    return ""


def bypasses_proxy(host: str, port: int, no_proxy: str) -> bool:
    """Whether ``host`` is exempt from the proxy under ``no_proxy``, as in curl.

    * The whole list ``*`` exempts every host (a ``*`` entry inside a list
      does not: curl compares it as a name).
    * Entries are separated by commas, with blanks allowed around them; as in
      curl, an entry followed by a blank and no comma ends the list.
    * A name entry matches the host itself or any name under it:
      ``example.com`` and ``.example.com`` both match ``example.com`` and
      ``www.example.com``, never ``notexample.com``. Case-insensitive; one
      trailing dot on either side is ignored.
    * An IP host matches an IP entry of its family, exactly or in CIDR
      notation (``10.0.0.0/8``, ``fd00::/8``; curl 7.86 and later). As in
      curl, ``/0`` counts as an exact match and a prefix longer than the
      address never matches. A name entry never matches an IP host.
    * Ports are not part of the match: curl ignores them (``port`` is taken
      so callers need not know that), and an entry ``host:port`` matches
      nothing.
    """
    del port  # curl's NO_PROXY has no notion of ports
    if not host or not no_proxy:
        return False
    if no_proxy == "*":
        return True
    name = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    address: ipaddress.IPv4Address | ipaddress.IPv6Address | None
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        address = None
        if name.endswith("."):
            name = name[:-1]
    for entry in no_proxy_entries(no_proxy):
        if address is None:
            if _name_matches(name, entry):
                return True
        elif _address_matches(address, entry):
            return True
    return False


def no_proxy_entries(no_proxy: str) -> list[str]:
    """Split a NO_PROXY list exactly as curl's parser walks it."""
    entries: list[str] = []
    i, n = 0, len(no_proxy)
    while i < n:
        while i < n and no_proxy[i] in " \t":
            i += 1
        start = i
        while i < n and no_proxy[i] not in " \t,":
            i += 1
        if i > start:
            entries.append(no_proxy[start:i])
        while i < n and no_proxy[i] in " \t":
            i += 1
        if i >= n or no_proxy[i] != ",":
            break
        while i < n and no_proxy[i] == ",":
            i += 1
    return entries


def _name_matches(name: str, entry: str) -> bool:
    token = entry[:-1] if entry.endswith(".") else entry
    if token.startswith("."):
        token = token[1:]
    name, token = name.lower(), token.lower()
    if len(token) == len(name):
        return token == name
    return len(token) < len(name) and name.endswith("." + token)


def _address_matches(address: ipaddress.IPv4Address | ipaddress.IPv6Address,
                     entry: str) -> bool:
    network, _, bits_text = entry.partition("/")
    try:
        check = ipaddress.ip_address(network)
    except ValueError:
        return False
    if check.version != address.version:
        return False
    # curl reads the prefix with atoi(): junk is 0, and 0 means "exact".
    digits = re.match(r"\d*", bits_text)
    bits = int(digits.group()) if digits and digits.group() else 0
    if bits == 0:
        bits = address.max_prefixlen
    if bits > address.max_prefixlen:
        return False
    net = ipaddress.ip_network(f"{check}/{bits}", strict=False)
    return address in net


def redact_url(text: str) -> str:
    """``scheme://user:pass@host`` → ``scheme://***@host`` for every URL in text."""
    return _URL_USERINFO.sub(r"\1***@", text)


def redact(text: str, proxy: ProxyConfig | None) -> str:
    """``text`` with the proxy's credentials removed, wherever they appear.

    Removes the userinfo of any URL, and the password itself -- raw,
    percent-encoded, and inside the ``Proxy-Authorization: Basic`` token --
    so an error message that quotes a header or a URL cannot leak it.
    """
    text = redact_url(text)
    if proxy is None or proxy.username is None:
        return text
    password = proxy.password or ""
    secrets = {basic_token(proxy.username, password)}
    if password:
        secrets |= {password, quote(password, safe=""), quote(password)}
    # Longest first, so a secret that contains another is removed whole.
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def basic_token(username: str, password: str) -> str:
    """The credentials of ``Proxy-Authorization: Basic <token>`` (RFC 7617)."""
    return base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
