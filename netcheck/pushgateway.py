"""Push a run's metrics to a Prometheus Pushgateway, for cron-style use:
``netcheck run --push-gateway URL [--job NAME]``.

The metrics are the report's (netcheck.render.prometheus.registry, the same as
the textfile). They go with ``PUT`` (``push_to_gateway``), which replaces the
whole group ``job``+``instance``, not with ``POST`` (``pushadd``), which merges
by metric name: a run is a complete picture, and series of the previous run
that this one no longer has -- a target IP that DNS stopped returning, an
endpoint removed from the catalogue, a TLS expiry of a target that now fails
before TLS -- must disappear, or they would keep an alert firing forever.
The grouping key ``instance=<hostname>`` keeps one group per machine, so many
sites can push under one job.

Credentials in the URL (``https://user:pass@gw:9091``) are sent as HTTP Basic
authentication and never appear in an error message.
"""

from __future__ import annotations

import socket
import urllib.error
import urllib.parse
from collections.abc import Callable

from prometheus_client.exposition import basic_auth_handler, default_handler, push_to_gateway

from netcheck.model import RunReport
from netcheck.proxyconf import redact_url
from netcheck.render.prometheus import registry

Handler = Callable[..., Callable[[], None]]


class PushError(Exception):
    """The push failed; the message is one line, with the URL's credentials redacted."""


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """``(url without userinfo, username, password)``; username/password
    percent-decoded, ``None`` when the URL has none."""
    parts = urllib.parse.urlsplit(url if "://" in url else f"http://{url}")
    if parts.username is None:
        return url, None, None
    netloc = parts.hostname or ""
    if ":" in netloc:  # an IPv6 literal lost its brackets in .hostname
        netloc = f"[{netloc}]"
    if parts.port is not None:
        netloc += f":{parts.port}"
    bare = urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    return (bare, urllib.parse.unquote(parts.username),
            urllib.parse.unquote(parts.password or ""))


def _handler(username: str | None, password: str | None) -> Handler:
    if username is None:
        return default_handler

    def handler(url: str, method: str, timeout: float | None,
                headers: list[tuple[str, str]], data: bytes) -> Callable[[], None]:
        return basic_auth_handler(url, method, timeout, headers, data, username, password)

    return handler


def _one_line(text: str, secrets: tuple[str | None, ...]) -> str:
    text = redact_url(" ".join(text.split()))
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def push(report: RunReport, url: str, job: str = "netcheck", *, timeout: float = 10) -> None:
    """PUT the report's metrics to the Pushgateway at ``url`` under
    ``/metrics/job/<job>/instance/<hostname>``; raises :class:`PushError`."""
    bare, username, password = split_credentials(url)
    instance = report.host.hostname or socket.gethostname()
    try:
        push_to_gateway(bare, job=job, registry=registry(report),
                        grouping_key={"instance": instance}, timeout=timeout,
                        handler=_handler(username, password))
    except (OSError, ValueError) as exc:
        # The credentials were taken out of the URL before urllib saw it, so
        # no exception below quotes them; redacting again costs nothing.
        where = redact_url(url if "://" in url else f"http://{url}")
        raise PushError(_one_line(f"push to {where} failed: {_reason(exc)}",
                                  (password,))) from exc


def _reason(exc: Exception) -> str:
    """Why urllib failed, in words: the gateway's own answer for an HTTP error
    (it says which metric it rejected), the socket error for a refusal."""
    if isinstance(exc, urllib.error.HTTPError):
        with exc:
            body = exc.read(300).decode("utf-8", "replace").strip()
        return f"HTTP {exc.code} {exc.reason}" + (f": {body}" if body else "")
    if isinstance(exc, urllib.error.URLError):
        inner = exc.reason
        return str(inner.strerror if isinstance(inner, OSError) and inner.strerror else inner)
    return str(exc) or type(exc).__name__
