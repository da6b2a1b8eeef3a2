"""``netcheck bundle``: run the catalogue and pack one zip for support.

What the zip holds (the README of the zip says the same to the customer)::

    README.txt        what each file is, and what was removed
    report.json       the run's JSON report (netcheck.report/1), environment included
    report.html       the same report as one self-contained web page
    report.md         the same report in Markdown
    environment.json  OS, interfaces, default route and MTU, resolvers, /etc/hosts
                      entries for the checked hosts, proxy variables, clock skew
    netcheck.log      the run's log at debug level
    manifest.json     each file's size and SHA-256, the tool version, when it was made

Secrets never reach the zip: :func:`redact` is applied to the text of every
file before it is packed -- the userinfo of every URL, secret query values
(``token=``, ``access_token=``, ``sig=``, ``password=`` ...), every
``Authorization`` / ``Proxy-Authorization`` / ``Cookie`` value, and the
exact proxy passwords of this run (raw, percent-encoded and as a Basic
token). The zip is written atomically: a crash never leaves half of one.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import io
import json
import logging
import os
import re
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from netcheck.model import RunReport

log = logging.getLogger("netcheck.bundle")

REDACTED = "***"

# Query or form values that are credentials. Matched as a parameter name
# after ?, & or ; so that "token" inside a word is left alone.
_SECRET_PARAMS = ("token", "access_token", "id_token", "refresh_token", "sig", "signature",
                  "password", "passwd", "pwd", "secret", "client_secret", "api_key", "apikey",
                  "key", "code", "auth", "session", "sessionid", "x-amz-signature",
                  "x-amz-security-token", "x-goog-signature")
_QUERY_SECRET = re.compile(
    r"(?i)([?&;](?:" + "|".join(re.escape(p) for p in _SECRET_PARAMS) + r")=)[^&;#\s\"'<>]+")
_HEADERS = r"(?:proxy-authorization|authorization|cookie|set-cookie|x-api-key)"
# "Authorization": "Basic ..." (JSON) or 'Proxy-Authorization': '...' (a repr)
_QUOTED_HEADER = re.compile(r"(?i)([\"']" + _HEADERS + r"[\"']\s*[:=]\s*)([\"'])"
                            r"((?:\\.|(?!\2).)*)\2")
# Authorization: Basic ... (a header line, or a log message quoting one), up to
# the end of the line or a quote; possessive \s*+ so a quote is never eaten.
_HEADER_LINE = re.compile(r"(?i)\b(" + _HEADERS + r"\s*+:\s*+)(?![\"'])[^\r\n\"']+")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every credential we know how to recognise replaced by ``***``.

    The one redaction function: applied to every file of a bundle and to the
    proxy facts of every report. ``secrets`` are exact strings to remove
    too (this run's proxy passwords, and their encodings).
    """
    from netcheck.proxyconf import redact_url

    text = redact_url(text)
    text = _QUERY_SECRET.sub(lambda m: m.group(1) + REDACTED, text)
    text = _QUOTED_HEADER.sub(lambda m: m.group(1) + m.group(2) + REDACTED + m.group(2), text)
    text = _HEADER_LINE.sub(lambda m: m.group(1) + REDACTED, text)
    # Longest first, so a secret containing another is removed whole.
    for secret in sorted({s for s in secrets if len(s) >= 3}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def _redact_tree(value: Any, secrets: set[str]) -> Any:
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, list):
        return [_redact_tree(v, secrets) for v in value]
    if isinstance(value, dict):
        return {k: _redact_tree(v, secrets) for k, v in value.items()}
    return value


def redact_report(report: RunReport, secrets: Iterable[str] = ()) -> RunReport:
    """The report with :func:`redact` applied to every string in it.

    Done before rendering as well as after: a renderer escapes text
    (``access\\_token``, ``&amp;``), and an escaped secret would slip past a
    pattern applied to the rendered file only.
    """
    from netcheck.model import RunReport

    return RunReport.from_dict(_redact_tree(report.to_dict(), set(secrets)))


def known_secrets(proxy_urls: Iterable[str]) -> set[str]:
    """Every form in which these proxy URLs' passwords could appear in a text."""
    from netcheck.proxyconf import basic_token, parse_proxy_url

    found: set[str] = set()
    for url in proxy_urls:
        try:
            proxy = parse_proxy_url(url)
        except ValueError:
            continue
        if proxy.username is None:
            continue
        password = proxy.password or ""
        found.add(basic_token(proxy.username, password))
        if password:
            found |= {password, quote(password, safe=""), quote(password)}
    return found


# -- the command ---------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    from netcheck import cli

    # --output (from the run options) is the zip here; --output-dir its folder.
    cli._add_run_options(parser)
    parser.description = ("Run the catalogue and pack one zip for support: the JSON, HTML and "
                          "Markdown reports, the environment facts, the debug log and a "
                          "manifest, with secrets removed. --output FILE.zip names it "
                          "(default: reports/netcheck-bundle-<UTC time>.zip).")


def main(args: argparse.Namespace) -> int:
    from netcheck import cli
    from netcheck.output import OutputError, check_writable_dir, check_writable_file

    if args.format is not None:
        raise cli.UsageError("bundle always packs the JSON, HTML and Markdown reports; "
                             "--format does not apply")
    target: Path | None = args.output
    directory: Path = args.output_dir if args.output_dir is not None else Path("reports")
    try:
        if target is not None:
            if str(target) == "-":
                raise cli.UsageError("bundle writes a zip file; give --output FILE.zip")
            check_writable_file(target)
        else:
            check_writable_dir(directory)
    except OutputError as exc:
        raise cli.UsageError(str(exc)) from None
    catalog = cli._load_catalog(args.catalog, args.only, args.tag)
    secrets = known_secrets([args.proxy or "", *(os.environ.get(n, "") for n in _proxy_vars())])
    # The run itself writes no report file (the console only); --output-dir
    # still says where the history of runs is kept.
    args.output = None
    reports: list[RunReport] = []
    with capture_log(verbose=bool(args.verbose)) as buffer:
        log.info("netcheck bundle: %d endpoints from %s", len(catalog.endpoints), catalog.source)
        code = cli.run_checks(args, catalog, on_report=reports.append)
        log.info("run finished with exit code %d", code)
    if not reports:
        return code
    from netcheck import environment

    facts = dict(reports[0].host.environment) or environment.collect(
        catalog_hosts=[e.host for e in catalog.endpoints], proxy_env=os.environ)
    data = build(reports[0], facts, buffer.getvalue(), exit_code=code, secrets=secrets)
    from netcheck.output import timestamp_stem, write_new, write_path

    try:
        if target is not None:
            write_path(target, data)
            where = target
        else:
            where = write_new(directory, timestamp_stem().replace("netcheck-", "netcheck-bundle-",
                                                                  1), ".zip", data)
    except OutputError as exc:
        print(f"netcheck: {exc}", file=_stderr())
        return cli.EXIT_INTERNAL if code in (cli.EXIT_OK, cli.EXIT_FAIL) else code
    print(f"wrote support bundle {where} ({len(data)} bytes); see README.txt inside",
          file=_stderr())
    return code


def _stderr() -> Any:
    import sys

    return sys.stderr


def _proxy_vars() -> tuple[str, ...]:
    from netcheck.environment import PAC_VARS, PROXY_VARS

    return PROXY_VARS + PAC_VARS


@contextmanager
def capture_log(verbose: bool) -> Iterator[io.StringIO]:
    """Everything the ``netcheck`` loggers say at DEBUG, kept in memory.

    The console handlers keep showing WARNING and above only (DEBUG with
    ``-v``), as without a bundle.
    """
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logger = logging.getLogger("netcheck")
    quieted = [h for h in logging.getLogger().handlers if h.level == logging.NOTSET]
    old_level = logger.level
    for h in quieted:
        h.setLevel(logging.DEBUG if verbose else logging.WARNING)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        for h in quieted:
            h.setLevel(logging.NOTSET)
        handler.close()


# -- the zip ----------------------------------------------------------------------------

DESCRIPTIONS: Mapping[str, str] = {
    "README.txt": "this file",
    "report.json": "the run's report in netcheck's JSON format (netcheck.report/1), "
                   "with the environment facts in host.environment",
    "report.html": "the same report as one self-contained web page (open it in a browser)",
    "report.md": "the same report in Markdown (readable as plain text)",
    "environment.json": "facts about this machine: OS, Python and netcheck versions, host "
                        "name, network interfaces and addresses, default route and its MTU, "
                        "DNS resolvers and search domains, /etc/hosts entries for the checked "
                        "hosts, proxy variables, and the clock compared with the servers'",
    "netcheck.log": "the log of the run at debug level: every phase of every address checked",
    "manifest.json": "the size and SHA-256 of every other file, the netcheck version and "
                     "when the bundle was made",
}


def readme(report: RunReport, created_at: str) -> str:
    names = list(DESCRIPTIONS)
    width = max(len(n) for n in names)
    lines = [
        "netcheck support bundle",
        "=======================",
        "",
        f"Made by netcheck {report.tool_version} at {created_at} on {report.host.hostname}.",
        f"Run result: {report.summary.status} ({report.summary.passed} pass, "
        f"{report.summary.warned} warn, {report.summary.failed} fail, "
        f"{report.summary.skipped} skip){' - INTERRUPTED' if report.interrupted else ''}.",
        "",
        "What is in this zip:",
        "",
        *(f"  {n.ljust(width)}  {DESCRIPTIONS[n]}" for n in names),
        "",
        "What was removed before anything was written: passwords and user names in",
        "proxy and other URLs, secret URL parameters (token=, access_token=, sig=,",
        "password= and similar), and every Authorization, Proxy-Authorization and",
        "Cookie value; each is shown as ***.",
        "",
        "Nothing else is collected: no files other than the ones above, no browser",
        "data, no credentials. The reports name this machine's host name, its local",
        "IP addresses and DNS servers, and the endpoints that were checked.",
        "",
        "Start with report.html (or report.md): its findings say what is wrong and",
        "which firewall, proxy or DNS change fixes it.",
    ]
    return "\n".join(lines) + "\n"


def build(report: RunReport, facts: Mapping[str, Any], log_text: str, *, exit_code: int,
          secrets: Iterable[str] = (), now: dt.datetime | None = None) -> bytes:
    """The zip's bytes: every member redacted, then hashed into the manifest."""
    from netcheck import __version__, environment
    from netcheck.render import renderer

    moment = now if now is not None else dt.datetime.now(dt.UTC)
    created_at = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    clock = environment.clock_skew(report)
    env = {**facts, "clock": clock}
    secret_set = set(secrets)
    full = redact_report(
        dataclasses.replace(report, host=dataclasses.replace(report.host, environment=env)),
        secret_set)

    def text(value: str | bytes) -> bytes:
        raw = value if isinstance(value, str) else value.decode("utf-8", errors="replace")
        return redact(raw, secret_set).encode("utf-8")

    members: dict[str, bytes] = {
        "README.txt": text(readme(report, created_at)),
        "report.json": text(renderer("json")(full)),
        "report.html": text(renderer("html")(full)),
        "report.md": text(renderer("markdown")(full)),
        "environment.json": text(json.dumps(env, indent=2, sort_keys=True) + "\n"),
        "netcheck.log": text(log_text or "(nothing was logged)\n"),
    }
    manifest = {
        "bundle": "netcheck.bundle/1",
        "tool": {"name": "netcheck", "version": __version__},
        "created_at": created_at,
        "exit_code": exit_code,
        "summary": report.summary.to_dict(),
        "files": [{"name": name, "size": len(data),
                   "sha256": hashlib.sha256(data).hexdigest(),
                   "description": DESCRIPTIONS[name]} for name, data in members.items()],
    }
    members["manifest.json"] = text(json.dumps(manifest, indent=2) + "\n")
    buffer = io.BytesIO()
    stamp = moment.timetuple()[:6]
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return buffer.getvalue()
