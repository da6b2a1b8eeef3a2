"""Proxy selection as curl does it: URL parsing, environment, NO_PROXY, redaction.

Pure functions: no sockets needed. The curl behaviours pinned here come from
curl's lib/url.c (proxy variables, default ports) and lib/noproxy.c.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netcheck.probes.base import ProxyConfig
from netcheck.proxyconf import (
    basic_token,
    bypasses_proxy,
    no_proxy_entries,
    no_proxy_from_env,
    parse_proxy_url,
    proxy_from_env,
    redact,
    redact_url,
)

# -- parse_proxy_url --------------------------------------------------------


@pytest.mark.parametrize(("url", "expected"), [
    ("http://proxy.corp:3128", ProxyConfig("http", "proxy.corp", 3128)),
    ("HTTP://Proxy.Corp:3128/", ProxyConfig("http", "proxy.corp", 3128)),
    # curl: no scheme means http://
    ("proxy.corp:8080", ProxyConfig("http", "proxy.corp", 8080)),
    # curl's defaults: 1080 for an http proxy, 443 for an https proxy
    ("http://proxy.corp", ProxyConfig("http", "proxy.corp", 1080)),
    ("https://proxy.corp", ProxyConfig("https", "proxy.corp", 443)),
    ("https://proxy.corp:8443", ProxyConfig("https", "proxy.corp", 8443)),
    ("http://10.0.0.5:3128", ProxyConfig("http", "10.0.0.5", 3128)),
    ("http://[fd00::5]:3128", ProxyConfig("http", "fd00::5", 3128)),
    ("  http://proxy.corp:3128  ", ProxyConfig("http", "proxy.corp", 3128)),
    ("http://alice:s3cret@proxy.corp:3128",
     ProxyConfig("http", "proxy.corp", 3128, "alice", "s3cret")),
    # percent-decoded credentials; a raw '@' in the password still works
    ("http://CORP%5Calice:p%40ss%3Aw0rd@proxy.corp:3128",
     ProxyConfig("http", "proxy.corp", 3128, "CORP\\alice", "p@ss:w0rd")),
    ("http://alice:p@ss@proxy.corp:3128",
     ProxyConfig("http", "proxy.corp", 3128, "alice", "p@ss")),
    # curl sends "user:" for a user without a password
    ("http://alice@proxy.corp:3128", ProxyConfig("http", "proxy.corp", 3128, "alice", "")),
])
def test_parse_proxy_url_accepts(url: str, expected: ProxyConfig) -> None:
    # Given a proxy URL as --proxy or HTTPS_PROXY would hold it
    # When it is parsed
    # Then the host, port, scheme and decoded credentials are as curl reads them
    assert parse_proxy_url(url) == expected


@pytest.mark.parametrize(("url", "message"), [
    ("", "the proxy URL is empty"),
    ("socks5://proxy.corp:1080", "SOCKS proxies are not supported"),
    ("socks5h://alice:s3cret@proxy.corp:1080", "SOCKS proxies are not supported"),
    ("ftp://proxy.corp:21", "unsupported proxy scheme 'ftp'"),
    ("http://:3128", "no proxy host"),
    ("http://proxy.corp:99999", "the port is not a number in 1-65535"),
    ("http://proxy.corp:0", "the port is not a number in 1-65535"),
    ("http://proxy.corp:abc", "the port is not a number in 1-65535"),
    ("http://[fd00::5:3128", "is not a URL"),
    ("http://pro xy.corp:3128", "is not a host name or IP address"),
    ("http://wpad.corp/proxy.pac", "proxy auto-config (PAC) file"),
])
def test_parse_proxy_url_rejects_with_one_clear_line(url: str, message: str) -> None:
    # Given a proxy URL netcheck cannot use
    # When it is parsed
    # Then a ValueError says why, on one line
    with pytest.raises(ValueError, match=re.escape(message)) as exc:
        parse_proxy_url(url)
    assert "\n" not in str(exc.value)


def test_parse_error_never_shows_the_password() -> None:
    # Given a bad proxy URL holding credentials
    # When it is rejected
    # Then the message shows the URL with its userinfo redacted
    with pytest.raises(ValueError) as exc:
        parse_proxy_url("socks5://alice:s3cret@proxy.corp:1080")
    assert "s3cret" not in str(exc.value)
    assert "alice" not in str(exc.value)
    assert "socks5://***@proxy.corp:1080" in str(exc.value)


def test_display_redacts_credentials() -> None:
    # Given a proxy with credentials
    proxy = parse_proxy_url("http://alice:s3cret@proxy.corp:3128")
    # When it is shown
    # Then only the scheme, host and port appear
    assert proxy.display == "http://***@proxy.corp:3128"


# -- proxy_from_env ----------------------------------------------------------


@pytest.mark.parametrize(("environ", "host"), [
    ({}, None),
    ({"http_proxy": "http://plain:3128", "HTTP_PROXY": "http://plain:3128"}, None),
    ({"HTTPS_PROXY": "http://upper:3128"}, "upper"),
    ({"https_proxy": "http://lower:3128"}, "lower"),
    # curl reads the lowercase variable first
    ({"https_proxy": "http://lower:3128", "HTTPS_PROXY": "http://upper:3128"}, "lower"),
    # an empty value is unset for curl: it does not hide the other spelling
    ({"https_proxy": "", "HTTPS_PROXY": "http://upper:3128"}, "upper"),
    ({"ALL_PROXY": "http://all:3128"}, "all"),
    ({"all_proxy": "http://alllower:3128", "ALL_PROXY": "http://all:3128"}, "alllower"),
    # the scheme-specific variable beats ALL_PROXY
    ({"ALL_PROXY": "http://all:3128", "HTTPS_PROXY": "http://upper:3128"}, "upper"),
])
def test_proxy_from_env_follows_curl(environ: dict[str, str], host: str | None) -> None:
    # Given the proxy variables of a shell
    # When the proxy for an https:// URL is chosen
    # Then it is the one curl would use
    proxy = proxy_from_env(environ)
    assert (proxy.host if proxy else None) == host


def test_proxy_from_env_names_the_variable_on_error() -> None:
    # Given an unusable HTTPS_PROXY
    # When the proxy is chosen
    # Then the error names the variable
    with pytest.raises(ValueError, match=r"^HTTPS_PROXY: .*SOCKS proxies are not supported"):
        proxy_from_env({"HTTPS_PROXY": "socks5://proxy.corp:1080"})


@pytest.mark.parametrize(("environ", "expected"), [
    ({}, ""),
    ({"NO_PROXY": "a.example"}, "a.example"),
    ({"no_proxy": "b.example", "NO_PROXY": "a.example"}, "b.example"),
    ({"no_proxy": "", "NO_PROXY": "a.example"}, "a.example"),
])
def test_no_proxy_from_env_prefers_lowercase(environ: dict[str, str], expected: str) -> None:
    # Given NO_PROXY spellings / When read / Then lowercase first, as curl
    assert no_proxy_from_env(environ) == expected


# -- bypasses_proxy (curl's lib/noproxy.c) ----------------------------------


@pytest.mark.parametrize(("host", "no_proxy", "bypass"), [
    ("example.com", "", False),
    ("example.com", "*", True),
    ("10.1.2.3", "*", True),
    # '*' is a wildcard only as the whole list
    ("example.com", "localhost,*", False),
    # a name covers itself and every name under it, with or without the dot
    ("example.com", "example.com", True),
    ("www.example.com", "example.com", True),
    ("www.example.com", ".example.com", True),
    ("example.com", ".example.com", True),
    ("notexample.com", "example.com", False),
    ("example.com", "www.example.com", False),
    ("EXAMPLE.com", "example.COM", True),
    # one trailing dot on either side is ignored
    ("example.com.", "example.com", True),
    ("example.com", "example.com.", True),
    # lists: commas, blanks around entries, empty entries
    ("b.example", "a.example,b.example", True),
    ("b.example", " a.example , b.example ", True),
    ("b.example", "a.example,,,b.example", True),
    ("b.example", "a.example,\tb.example", True),
    # curl stops at an entry followed by a blank and no comma
    ("b.example", "a.example b.example", False),
    ("a.example", "a.example b.example", True),
    # ports are not part of the match
    ("example.com", "example.com:443", False),
    # IPv4: exact, CIDR, and curl's quirks (/0 exact, /33 never)
    ("10.1.2.3", "10.1.2.3", True),
    ("10.1.2.3", "10.1.2.4", False),
    ("10.1.2.3", "10.0.0.0/8", True),
    ("11.1.2.3", "10.0.0.0/8", False),
    ("10.1.2.3", "10.1.2.0/24", True),
    ("10.1.3.3", "10.1.2.0/24", False),
    ("10.1.2.3", "10.1.2.3/32", True),
    ("10.1.2.3", "0.0.0.0/0", False),
    ("10.1.2.3", "10.1.2.3/33", False),
    ("10.1.2.3", "10.1.2.3/x", True),
    # a name entry never matches an address, and an IP never matches a name
    ("10.1.2.3", "example.com", False),
    ("10.1.2.3", "2.3", False),
    # IPv6, bracketed or not
    ("fd00::1", "fd00::1", True),
    ("[fd00::1]", "fd00::1", True),
    ("fd00::1", "fd00::/8", True),
    ("fe80::1", "fd00::/8", False),
    ("fd00::1", "fd00::/128", False),
    ("fd00::1", "10.0.0.0/8", False),
    ("10.1.2.3", "::/0", False),
])
def test_bypasses_proxy_like_curl(host: str, no_proxy: str, bypass: bool) -> None:
    # Given a NO_PROXY list and a host
    # When netcheck decides whether to go through the proxy
    # Then it decides as curl does
    assert bypasses_proxy(host, 443, no_proxy) is bypass


def test_no_proxy_entries_walks_the_list_like_curl() -> None:
    # Given a messy list / When split / Then curl's tokens, and it stops at "c d"
    assert no_proxy_entries(" a, ,b ,,c d,e") == ["a", "b", "c"]


@given(st.text(max_size=60), st.text(max_size=60))
def test_bypasses_proxy_never_raises(host: str, no_proxy: str) -> None:
    # Given any strings (NO_PROXY comes from the user's environment)
    # When matched / Then the answer is a bool, never an exception
    assert bypasses_proxy(host, 443, no_proxy) in (True, False)


# -- redact -----------------------------------------------------------------


def test_redact_removes_every_form_of_the_credentials() -> None:
    # Given a proxy with credentials and a text quoting them in every form
    proxy = parse_proxy_url("http://alice:p%40ss%2Fw0rd@proxy.corp:3128")
    token = basic_token("alice", "p@ss/w0rd")
    text = (f"url http://alice:p%40ss%2Fw0rd@proxy.corp:3128/ raw p@ss/w0rd "
            f"header Proxy-Authorization: Basic {token} other https://bob:x@h/")
    # When it is redacted
    out = redact(text, proxy)
    # Then neither the password nor the Basic token is left, and URLs keep host:port
    assert "p@ss/w0rd" not in out
    assert "p%40ss%2Fw0rd" not in out
    assert token not in out
    assert "http://***@proxy.corp:3128/" in out
    assert "https://***@h/" in out


def test_redact_without_credentials_only_touches_url_userinfo() -> None:
    # Given a proxy without credentials / When redacting / Then text is unchanged
    proxy = parse_proxy_url("http://proxy.corp:3128")
    assert redact("CONNECT a.example:443 via http://proxy.corp:3128", proxy) == \
        "CONNECT a.example:443 via http://proxy.corp:3128"
    assert redact_url("see http://u:p@h:1 and http://h:2") == "see http://***@h:1 and http://h:2"
    assert redact("x", None) == "x"
