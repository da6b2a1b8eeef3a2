"""Command line: parse, call into the package, pick the exit code.

Heavy libraries (rich, dnspython, websockets, cryptography) are imported only
inside the commands that need them, so ``netcheck --help`` and
``netcheck validate`` start fast.

Exit codes (DESIGN.md, by precedence): 130/143 interrupted > 3 internal error
> 2 usage or catalogue error > 1 a required endpoint failed > 0.
"""

from __future__ import annotations

import argparse
import os
import sys

from netcheck import __version__

# Not ``from typing import TYPE_CHECKING``: typing alone costs ~4 ms of the
# start-up budget; mypy treats any name TYPE_CHECKING as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path
    from typing import NoReturn

    from rich.console import Console

    from netcheck.catalog import Catalog
    from netcheck.model import RunReport
    from netcheck.probes.base import ProbeOptions, ProxyConfig
    from netcheck.runner import RunOptions

# Start-up budget (``netcheck --help`` <= 80 ms): at import time this module
# needs only argparse. asyncio, logging, signal, ipaddress, dataclasses,
# pathlib and typing are imported inside the functions that use them.

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_SIGNAL_NAMES = {"SIGINT": 130, "SIGTERM": 143}
FORMAT_NAMES = ("console", "json", "junit", "markdown", "html", "csv", "prometheus")


class UsageError(Exception):
    """A user mistake: one clear line, exit 2, never a traceback."""


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    print(f"netcheck: {message}", file=sys.stderr)
    raise SystemExit(code)


# -- argument types: each turns one bad value into one clear line --------------

def _path(text: str) -> Path:
    from pathlib import Path

    return Path(text)


_path.__name__ = "Path"  # argparse names the type in its messages


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0 and 3600 seconds")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def parse_resolver(text: str) -> tuple[str, int]:
    """``IP``, ``IP:PORT``, ``[IPv6]:PORT`` or a bare IPv6 address."""
    host, port_text = text, ""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise argparse.ArgumentTypeError(f"{text!r}: missing ']' after the IPv6 address")
        host, rest = text[1:end], text[end + 1:]
        if rest:
            if not rest.startswith(":"):
                raise argparse.ArgumentTypeError(f"{text!r}: expected [IPv6]:PORT")
            port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    import ipaddress

    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a resolver address (IP, IP:PORT or [IPv6]:PORT)") from None
    port = 53
    if port_text:
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise argparse.ArgumentTypeError(f"{text!r}: {port_text!r} is not a port (1-65535)")
        port = int(port_text)
    return ip.compressed, port


def _formats(text: str) -> list[str]:
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError("no format given")
    unknown = [n for n in names if n not in FORMAT_NAMES]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown format {', '.join(map(repr, unknown))} "
            f"(choose from {', '.join(FORMAT_NAMES)})")
    return list(dict.fromkeys(names))


# -- the parser -----------------------------------------------------------------

def _add_run_options(p: argparse.ArgumentParser) -> None:
    sel = p.add_argument_group("what to check")
    sel.add_argument("--catalog", type=_path, metavar="PATH",
                     help="endpoint catalogue (default: the built-in endpoints.yaml)")
    sel.add_argument("--only", action="append", metavar="NAME",
                     help="check only these endpoints (repeatable, or comma-separated)")
    sel.add_argument("--tag", action="append", metavar="TAG",
                     help="check endpoints having any of these tags (repeatable, comma-separated)")
    sel.add_argument("--targets", choices=("both", "resolved", "expected"), default="both",
                     help="probe resolved IPs, published IPs, or both (default: both)")
    net = p.add_argument_group("how to reach them")
    net.add_argument("--resolver", action="append", type=parse_resolver, metavar="IP[:PORT]",
                     help="ask this DNS server instead of the system's (repeatable)")
    net.add_argument("--ca-bundle", type=_path, metavar="PEM",
                     help="extra trust anchors the vendor's certificates may chain to")
    proxy = net.add_mutually_exclusive_group()
    proxy.add_argument("--proxy", metavar="URL",
                       help="HTTP(S) proxy, http://[user:pass@]host:port "
                            "(default: HTTPS_PROXY/ALL_PROXY, honouring NO_PROXY)")
    proxy.add_argument("--no-proxy", action="store_true",
                       help="ignore proxy environment variables and connect directly")
    net.add_argument("--timeout", type=_positive_float, metavar="SECONDS",
                     help="per-phase timeout (default: the catalogue's, 5 s)")
    net.add_argument("--deadline", type=_positive_float, metavar="SECONDS",
                     help="limit for the whole run: phases still running then end with "
                          "their timeout code, targets not started are skipped")
    net.add_argument("--concurrency", type=_positive_int, default=64, metavar="N",
                     help="at most N targets with an open connection at once (default: 64)")
    net.add_argument("--cert-warn-days", type=_non_negative_int, default=14, metavar="DAYS",
                     help="warn when a certificate expires within DAYS (default: 14)")
    out = p.add_argument_group("reports")
    out.add_argument("--format", type=_formats, default=None, metavar="FMT[,FMT...]",
                     help=f"one or more of {', '.join(FORMAT_NAMES)} (default: console)")
    dest = out.add_mutually_exclusive_group()
    dest.add_argument("--output", type=_path, metavar="PATH",
                      help="with one format: write it here ('-' is stdout)")
    dest.add_argument("--output-dir", type=_path, metavar="DIR",
                      help="folder for report files (default: reports/)")
    out.add_argument("--strict", action="store_true",
                     help="warnings fail the run too (exit 1)")
    out.add_argument("--push-gateway", metavar="URL",
                     help="after the run, push its metrics to this Prometheus Pushgateway")
    out.add_argument("--job", default="netcheck", metavar="NAME",
                     help="the Pushgateway job name (default: netcheck)")
    out.add_argument("--no-history", action="store_true",
                     help="do not record this run in <output dir>/history.jsonl "
                          "(nor compare it with the last one)")
    verbosity = out.add_mutually_exclusive_group()
    verbosity.add_argument("-q", "--quiet", action="store_true",
                           help="print only the summary line")
    verbosity.add_argument("-v", "--verbose", action="store_true",
                           help="log what every phase does (to stderr)")


# Commands that live in modules of their own. Each module has
# ``add_arguments(parser)`` and ``main(args) -> int``; it is imported only
# when its command is the one asked for, so ``netcheck --help`` stays fast.
EXTERNAL_COMMANDS: dict[str, tuple[str, str]] = {
    "diff": ("netcheck.diff", "compare two saved JSON reports (exit 1 on regressions)"),
    "history": ("netcheck.history", "list past runs from reports/history.jsonl"),
    "serve": ("netcheck.serve", "run on a schedule and serve Prometheus metrics"),
    "bundle": ("netcheck.bundle", "run and pack a support bundle (zip) to send to support"),
    "consent-url": ("netcheck.consent", "print (and check) the tenant's admin-consent URL"),
}


def _requested_command(argv: Sequence[str]) -> str | None:
    return next((a for a in argv if not a.startswith("-")), None)


class _Parser(argparse.ArgumentParser):
    """An argument error is one line naming the problem, not the whole
    usage block (sub-command parsers inherit this class)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="netcheck",
        description="Can this machine reach every endpoint the product needs? "
                    "And if not, which firewall, proxy or DNS change fixes it?",
        epilog="Exit codes: 0 every required endpoint passed, 1 at least one failed, "
               "2 usage or catalogue error, 3 internal error, 130/143 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"netcheck {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="check the catalogue's endpoints",
                         description="Resolve, connect, handshake and report on every endpoint.")
    _add_run_options(run)

    demo = sub.add_parser(
        "demo", help="run the real pipeline against a built-in loopback lab",
        description="Start real servers on 127.0.0.0/8, one per failure mode, and check "
                    "them with the real probes. Nothing leaves this machine.")
    _add_run_options(demo)

    validate = sub.add_parser("validate", help="check a catalogue file (exit 0 or 2)")
    validate.add_argument("path", nargs="?", type=_path, metavar="PATH",
                          help="catalogue to check (default: the built-in one)")

    lst = sub.add_parser("list", help="list the catalogue's endpoints")
    lst.add_argument("--catalog", type=_path, metavar="PATH")
    lst.add_argument("--tag", action="append", metavar="TAG")
    lst.add_argument("--only", action="append", metavar="NAME")

    report = sub.add_parser("report", help="re-render a saved JSON report in another format")
    report.add_argument("report", type=_path, metavar="REPORT.json")
    report.add_argument("--format", type=_formats, required=True, metavar="FMT")
    report.add_argument("--output", type=_path, metavar="PATH",
                        help="write here ('-' or absent: stdout)")

    wanted = _requested_command(argv)
    for name, (module, help_text) in EXTERNAL_COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:])
        if name == wanted:
            import importlib

            importlib.import_module(module).add_arguments(p)
    return parser


# -- commands ---------------------------------------------------------------------

def _load_catalog(path: Path | None, only: list[str] | None = None,
                  tags: list[str] | None = None) -> Catalog:
    from netcheck.catalog import CatalogError, load_catalog, select

    try:
        catalog = load_catalog(path)
        if only or tags:
            # select() splits comma lists itself, and reports an option given
            # only empty values ("--only ,") instead of checking everything.
            catalog = select(catalog, only or [], tags or [])
    except CatalogError as exc:
        for problem in exc.problems:
            print(f"netcheck: {exc.source}: {problem}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None
    return catalog


def cmd_validate(args: argparse.Namespace) -> int:
    catalog = _load_catalog(args.path)
    print(f"{catalog.source}: OK, {len(catalog.endpoints)} endpoints")
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from netcheck.catalog import describe

    catalog = _load_catalog(args.catalog, args.only, args.tag)
    table = Table(title=f"{catalog.source}: {len(catalog.endpoints)} endpoints")
    for column in ("name", "host", "port", "probe", "published IPs", "tags", "required"):
        table.add_column(column)
    for ep in catalog.endpoints:
        d = describe(ep)
        table.add_row(d["name"], d["host"], d["port"], d["probe"], d["expected_ips"],
                      d["tags"], d["required"])
    console = Console(markup=False, highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 160  # a pipe has no width: don't cut names and IPs at 80
    console.print(table)
    return EXIT_OK


def _proxy_settings(args: argparse.Namespace) -> tuple[ProxyConfig | None, str]:
    """The proxy to use and the NO_PROXY list, as curl would choose them."""
    from netcheck import proxyconf

    if args.no_proxy:
        return None, ""
    # curl applies NO_PROXY to an explicit proxy (-x) as well.
    no_proxy = proxyconf.no_proxy_from_env(os.environ)
    if args.proxy:
        try:
            return proxyconf.parse_proxy_url(args.proxy), no_proxy
        except ValueError as exc:
            raise UsageError(f"--proxy: {exc}") from None
    try:
        return proxyconf.proxy_from_env(os.environ), no_proxy
    except ValueError as exc:
        raise UsageError(f"proxy from the environment: {exc}") from None


def _check_ca_bundle(path: Path) -> None:
    import ssl
    import stat

    from netcheck.probes.tls import public_context

    # A regular file only: OpenSSL would block forever reading a FIFO.
    try:
        regular = stat.S_ISREG(path.stat().st_mode)
    except OSError:
        regular = True  # missing or denied: the load below says which
    if not regular:
        raise UsageError(f"--ca-bundle {path}: not a regular file")
    try:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(cafile=str(path))
        public_context(path)  # the probes' own context, built once and cached
    except FileNotFoundError:
        raise UsageError(f"--ca-bundle {path}: no such file") from None
    except PermissionError:
        raise UsageError(f"--ca-bundle {path}: permission denied") from None
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise UsageError(f"--ca-bundle {path}: not a PEM certificate bundle ({exc})") from None
    if not ctx.get_ca_certs():
        raise UsageError(f"--ca-bundle {path}: holds no CA certificate")


class OutputPlan:
    """Where the reports go. A plain class, not a dataclass: dataclasses
    imports inspect (~7 ms), too much for the start-up budget."""

    __slots__ = ("console_to_stderr", "directory", "formats", "single_path")

    def __init__(self, formats: tuple[str, ...], console_to_stderr: bool,
                 single_path: Path | None, directory: Path | None) -> None:
        self.formats = formats
        self.console_to_stderr = console_to_stderr
        self.single_path = single_path  # one format to one path ('-' = stdout)
        self.directory = directory  # several formats (or one without --output) to files

    def __repr__(self) -> str:
        return (f"OutputPlan(formats={self.formats!r}, console_to_stderr="
                f"{self.console_to_stderr!r}, single_path={self.single_path!r}, "
                f"directory={self.directory!r})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OutputPlan):
            return NotImplemented
        return all(getattr(self, k) == getattr(other, k) for k in self.__slots__)

    __hash__ = None  # type: ignore[assignment]


def plan_output(formats: list[str] | None, output: Path | None,
                output_dir: Path | None) -> OutputPlan:
    from pathlib import Path

    from netcheck.output import check_writable_dir, check_writable_file

    chosen = tuple(formats or ["console"])
    files = tuple(f for f in chosen if f != "console")
    if output is not None:
        if len(chosen) != 1:
            raise UsageError("--output takes one format; use --output-dir for several")
        check_writable_file(output)
        to_stdout = str(output) == "-"
        return OutputPlan(chosen, console_to_stderr=to_stdout and chosen[0] != "console",
                          single_path=output, directory=None)
    directory = None
    if files:
        directory = output_dir if output_dir is not None else Path("reports")
        check_writable_dir(directory)
    return OutputPlan(chosen, console_to_stderr=False, single_path=None, directory=directory)


def _probe_options(args: argparse.Namespace, proxy: ProxyConfig | None) -> ProbeOptions:
    from netcheck.probes.base import ProbeOptions

    return ProbeOptions(
        timeout=args.timeout,
        ca_bundle=args.ca_bundle,
        cert_warn_days=args.cert_warn_days,
        resolvers=tuple(args.resolver or ()),
        proxy=proxy,
    )


def _run_options(args: argparse.Namespace) -> RunOptions:
    from netcheck.runner import RunOptions

    proxy, no_proxy = _proxy_settings(args)
    if args.ca_bundle is not None:
        _check_ca_bundle(args.ca_bundle)
    if getattr(args, "push_gateway", None):
        _check_push_gateway(args.push_gateway)
    return RunOptions(probe=_probe_options(args, proxy), targets=args.targets,
                      concurrency=args.concurrency, no_proxy=no_proxy,
                      deadline=args.deadline)


def _check_push_gateway(url: str) -> None:
    """A Pushgateway URL must be http(s)://host[:port]: found before probing,
    not after the run as a failed push."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError for a bad port
    except ValueError as exc:
        raise UsageError(f"--push-gateway {url!r}: not a URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--push-gateway {url!r}: expected http(s)://HOST[:PORT]")


def _console(to_stderr: bool) -> Console:
    from rich.console import Console

    return Console(stderr=to_stderr, markup=False, highlight=False, emoji=False)


async def _execute(catalog: Catalog, options: RunOptions, console: Console,
                   show_progress: bool) -> tuple[RunReport, int | None]:
    """Run with signal handling: SIGINT/SIGTERM cancel the run, and the
    report of what finished is still returned."""
    import asyncio
    import signal

    from netcheck.runner import EndpointFinished, Event, Run

    exit_signal = {getattr(signal, name): code for name, code in EXIT_SIGNAL_NAMES.items()}

    progress = None
    task_id = None
    if show_progress:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        progress = Progress(TextColumn("probing"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.description}"), console=console, transient=True)
        task_id = progress.add_task("", total=len(catalog.endpoints))
        progress.start()

    def on_event(event: Event) -> None:
        if progress is not None and task_id is not None and isinstance(event, EndpointFinished):
            progress.update(task_id, advance=1, description=event.result.name)

    run = Run(catalog, options, on_event)
    task = asyncio.ensure_future(run.execute())
    loop = asyncio.get_running_loop()
    received: list[int] = []

    def on_signal(signum: int) -> None:
        received.append(signum)
        task.cancel()

    for sig in exit_signal:
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        await task
    except asyncio.CancelledError:
        if not received:
            raise
    finally:
        for sig in exit_signal:
            loop.remove_signal_handler(sig)
        if progress is not None:
            progress.stop()
    report = run.report(interrupted=bool(received))
    return report, (exit_signal[signal.Signals(received[0])] if received else None)


def _verdict_exit(report: RunReport, strict: bool) -> int:
    required = [e for e in report.endpoints if e.required]
    if any(e.status == "fail" for e in required):
        return EXIT_FAIL
    if strict and any(e.status == "warn" for e in report.endpoints):
        return EXIT_FAIL
    return EXIT_OK


def _render(report: RunReport, fmt: str) -> bytes:
    from netcheck.render import renderer

    out = renderer(fmt)(report)
    return out.encode("utf-8") if isinstance(out, str) else out


def _write_reports(report: RunReport, plan: OutputPlan, console: Console) -> list[str]:
    """Write every file format; returns the problems (empty = all written)."""
    from netcheck.output import OutputError, timestamp_stem, write_new, write_path
    from netcheck.render import FORMATS

    problems: list[str] = []
    if plan.single_path is not None:
        fmt = plan.formats[0]
        try:
            write_path(plan.single_path, _render(report, fmt))
            if str(plan.single_path) != "-":
                console.print(f"wrote {plan.single_path}")
        except OutputError as exc:
            problems.append(str(exc))
        return problems
    if plan.directory is None:
        return problems
    stem = timestamp_stem()
    for fmt in plan.formats:
        if fmt == "console":
            continue
        try:
            path = write_new(plan.directory, stem, FORMATS[fmt].extension, _render(report, fmt))
            console.print(f"wrote {path}")
        except OutputError as exc:
            problems.append(str(exc))
    return problems


def _show_console(report: RunReport, console: Console, quiet: bool) -> None:
    from netcheck.render import console as console_render

    if quiet:
        console_render.print_summary_line(report, console)
    else:
        console_render.print_report(report, console)


def run_checks(args: argparse.Namespace, catalog: Catalog,
               options: RunOptions | None = None,
               on_report: Callable[[RunReport], None] | None = None) -> int:
    """Shared by ``run`` and ``demo``: probe, show, write, pick the exit code."""
    import asyncio
    import dataclasses
    from pathlib import Path

    from netcheck.output import OutputError

    try:
        plan = plan_output(args.format, args.output, args.output_dir)
    except OutputError as exc:
        raise UsageError(str(exc)) from None
    options = options if options is not None else _run_options(args)
    console = _console(plan.console_to_stderr)
    show_progress = not args.quiet and console.is_terminal
    report, signal_exit = asyncio.run(_execute(catalog, options, console, show_progress))
    history_dir = args.output_dir if args.output_dir is not None else Path("reports")
    if not args.no_history:
        from netcheck import history

        report = dataclasses.replace(
            report, since_last_run=history.since_last_run(report, history_dir))
    if on_report is not None:
        on_report(report)
    if plan.console_to_stderr or ("console" in plan.formats and plan.single_path is None):
        _show_console(report, console, args.quiet)
    elif plan.single_path is None or str(plan.single_path) != "-":
        # Files only: still say how the run went, in one line.
        _show_console(report, console, quiet=True)
    problems = _write_reports(report, plan, console)
    for problem in problems:
        print(f"netcheck: {problem}", file=sys.stderr)
    if getattr(args, "push_gateway", None):
        from netcheck.pushgateway import PushError, push

        try:
            push(report, args.push_gateway, args.job)
        except PushError as exc:
            # Like a report that could not be written: the run happened, its
            # result did not reach where it was meant to go.
            problems.append(str(exc))
            print(f"netcheck: {exc}", file=sys.stderr)
    if not args.no_history:
        try:
            history.append(report, history_dir)
        except history.HistoryError as exc:
            # The run itself is complete and reported: a history that cannot
            # be written is worth a warning, not a different verdict.
            print(f"netcheck: warning: {exc}", file=sys.stderr)
    if signal_exit is not None:
        return signal_exit
    if problems:
        return EXIT_INTERNAL
    return _verdict_exit(report, args.strict)


def cmd_run(args: argparse.Namespace) -> int:
    catalog = _load_catalog(args.catalog, args.only, args.tag)
    return run_checks(args, catalog)


def cmd_demo(args: argparse.Namespace) -> int:
    from netcheck.lab import demo

    return demo(args)


def cmd_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from netcheck.output import OutputError, check_writable_file, write_path
    from netcheck.render.json import ReportLoadError, load

    if len(args.format) != 1:
        raise UsageError("report takes one --format")
    try:
        report = load(args.report, validate=True)
    except ReportLoadError as exc:
        raise UsageError(str(exc)) from None
    output = args.output if args.output is not None else Path("-")
    fmt = args.format[0]
    try:
        check_writable_file(output)
        if fmt == "console" and str(output) == "-":
            _show_console(report, _console(False), quiet=False)
        else:
            write_path(output, _render(report, fmt))
    except OutputError as exc:
        raise UsageError(str(exc)) from None
    return EXIT_OK


COMMANDS = {
    "run": cmd_run,
    "demo": cmd_demo,
    "validate": cmd_validate,
    "list": cmd_list,
    "report": cmd_report,
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    if args.command != "validate":
        # validate logs nothing; logging costs it ~3 ms of start-up.
        import logging

        logging.basicConfig(
            level=logging.DEBUG if getattr(args, "verbose", False) else logging.WARNING,
            # -v is for following a run, with times; otherwise a warning is
            # one line in the CLI's own "netcheck: ..." voice.
            format=("%(asctime)s %(name)s %(levelname)s %(message)s"
                    if getattr(args, "verbose", False) else "netcheck: warning: %(message)s"),
            stream=sys.stderr)
    try:
        if args.command in EXTERNAL_COMMANDS:
            import importlib

            command: Callable[[argparse.Namespace], int] = importlib.import_module(
                EXTERNAL_COMMANDS[args.command][0]).main
            return command(args)
        return COMMANDS[args.command](args)
    except UsageError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `netcheck run --format json --output - | head`: the reader left.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except SystemExit:
        raise
    except Exception as exc:
        import logging

        logging.getLogger("netcheck").debug("internal error", exc_info=True)
        print(f"netcheck: internal error: {type(exc).__name__}: {exc} "
              "(run with -v for the traceback; please report it)", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    raise SystemExit(main())
