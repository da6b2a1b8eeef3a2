"""The run history (``reports/history.jsonl``), ``since_last_run``, and the
``netcheck history`` command.

One JSON line per run (:func:`entry`): the run's metadata, its selection
(:func:`selection`), the summary, and per endpoint the facts a comparison
needs (:class:`netcheck.diff.Snapshot`), never the details, so a line stays a
few hundred bytes per endpoint. :func:`append` adds a line so that neither a
crash nor a concurrent run can corrupt the file; :func:`read` and
:func:`since_last_run` skip a line that is not a history entry (a torn last
line after a crash, a hand edit) with a warning instead of failing.

The history is a convenience around a run, never a reason for a run to fail:
:func:`since_last_run` returns ``None`` (and logs a warning) for a missing,
unreadable or corrupt history; :func:`append` raises :class:`HistoryError`
with a one-line message that the CLI prints as a warning.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

from netcheck import diff
from netcheck.model import RunReport

try:
    import fcntl
except ImportError:  # not POSIX (Windows): O_APPEND alone
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("netcheck.history")

HISTORY_NAME = "history.jsonl"
ENTRY_VERSION = 1
DEFAULT_DIR = Path("reports")
_CHUNK = 64 * 1024


class HistoryError(Exception):
    """The history could not be written or read; the message is one line."""


def history_path(directory: Path) -> Path:
    return directory / HISTORY_NAME


def selection(report: RunReport) -> dict[str, Any]:
    """What makes two runs comparable, besides the catalogue's sha256.

    Two runs have the *same selection* when they checked the same endpoints
    (their names, sorted: ``--only``/``--tag`` as they resolved against the
    catalogue) over the same paths: the same ``--targets`` (which addresses
    were probed), the same proxy (its redacted URL, or direct) and the same
    resolvers (sorted; empty = the system's). Those change *what* is
    measured, so a difference in them is not a change of the network.
    Timeout, concurrency, CA bundle and certificate warning days are left
    out on purpose: they change how a result is judged, and a verdict they
    change is a real change of the run's outcome that the user should see.
    An interrupted run lists only the endpoints that finished, so it never
    matches a complete one.
    """
    options = report.options
    return {
        "endpoints": sorted(e.name for e in report.endpoints),
        "targets": options.get("targets"),
        "proxy": options.get("proxy"),
        "resolvers": sorted(str(r) for r in options.get("resolvers") or ()),
    }


def entry(report: RunReport, run_id: str | None = None) -> dict[str, Any]:
    """The history line of ``report`` (JSON-ready)."""
    return {
        "v": ENTRY_VERSION,
        "run_id": run_id or uuid.uuid4().hex,
        "started_at": report.started_at,
        "finished_at": report.finished_at,
        "duration_ms": round(report.duration_ms, 1),
        "interrupted": report.interrupted,
        "tool_version": report.tool_version,
        "hostname": report.host.hostname,
        "catalog": {"source": report.catalog.source, "sha256": report.catalog.sha256},
        "selection": selection(report),
        "summary": report.summary.to_dict(),
        "endpoints": diff.Snapshot.from_report(report).endpoints_dict(),
    }


def _encode(line: Mapping[str, Any]) -> bytes:
    # ensure_ascii=False keeps names readable; JSON escapes every newline
    # inside strings, so the only b"\n" is the terminator.
    return (json.dumps(line, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
            + "\n").encode("utf-8")


def append(report: RunReport, directory: Path, run_id: str | None = None) -> dict[str, Any]:
    """Append ``report``'s line to ``directory``/history.jsonl; returns the entry.

    Raises :class:`HistoryError` (one line) when it cannot be written.
    """
    line = entry(report, run_id)
    data = _encode(line)
    path = history_path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        # One write(2) of the whole line to a descriptor opened with O_APPEND:
        # POSIX makes "seek to the end and write" one atomic step, so appends
        # from concurrent runs never overwrite each other, and on a local
        # regular file Linux writes the buffer under the inode lock, so lines
        # do not interleave either (PIPE_BUF limits apply to pipes, not
        # files). The flock below covers file systems weaker than that (and
        # the torn-line check, which must not race another writer). A crash
        # mid-write can only leave a torn *last* line, which readers skip.
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0),
                     0o644)
    except OSError as exc:
        raise HistoryError(f"cannot write run history {path}: {exc.strerror or exc}") from exc
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            # A torn line from a crashed run: end it, so ours stays a line of its own.
            data = b"\n" + data
        written = os.write(fd, data)
        if written != len(data):  # a full disk: the torn tail is skipped by readers
            raise HistoryError(f"cannot write run history {path}: short write "
                               f"({written} of {len(data)} bytes; disk full?)")
        os.fsync(fd)
    except OSError as exc:
        raise HistoryError(f"cannot write run history {path}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)  # closing releases the flock
    return line


def _parse(raw: bytes) -> dict[str, Any] | None:
    """A history entry, or None when ``raw`` is not one."""
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if (not isinstance(value, dict) or value.get("v") != ENTRY_VERSION
            or not isinstance(value.get("summary"), dict)
            or not isinstance(value.get("endpoints"), dict)
            or not isinstance(value.get("catalog"), dict)):
        return None
    return value


def _open(path: Path) -> BinaryIO | None:
    try:
        return path.open("rb")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise HistoryError(f"cannot read run history {path}: {exc.strerror or exc}") from exc


def read(directory: Path, last: int | None = None) -> list[dict[str, Any]]:
    """The history's entries, oldest first (only the ``last`` N when given).

    A missing file is an empty history; a line that is not an entry is
    skipped with a warning. Raises :class:`HistoryError` when the file
    exists but cannot be read.
    """
    path = history_path(directory)
    f = _open(path)
    if f is None:
        return []
    entries: list[dict[str, Any]] = []
    try:
        with f:
            for number, raw in enumerate(f, start=1):
                if not raw.strip():
                    continue
                parsed = _parse(raw)
                if parsed is None:
                    torn = not raw.endswith(b"\n")
                    log.warning("%s line %d: %s, skipped", path, number,
                                "torn (a run ended mid-write)" if torn
                                else "not a history entry")
                    continue
                entries.append(parsed)
    except OSError as exc:
        raise HistoryError(f"cannot read run history {path}: {exc.strerror or exc}") from exc
    return entries[-last:] if last is not None and last > 0 else entries


def _lines_newest_first(f: BinaryIO) -> Iterator[bytes]:
    """The lines of a binary file from the end, reading it in chunks, so a
    long history costs only as much as the search needs."""
    f.seek(0, os.SEEK_END)
    position = f.tell()
    tail = b""
    while position > 0:
        step = min(_CHUNK, position)
        position -= step
        f.seek(position)
        block = f.read(step) + tail
        lines = block.split(b"\n")
        tail = lines[0]  # may continue in the previous chunk
        for line in reversed(lines[1:]):
            if line.strip():
                yield line
    if tail.strip():
        yield tail


def _comparable(line: Mapping[str, Any], sha256: str, wanted: Mapping[str, Any]) -> bool:
    # An interrupted run is not a baseline: it is missing whatever it did not finish.
    return (not line.get("interrupted") and line["catalog"].get("sha256") == sha256
            and line.get("selection") == wanted)


def previous(report: RunReport, directory: Path) -> dict[str, Any] | None:
    """The newest complete run of the same catalogue and selection, or None.
    Raises :class:`HistoryError` when the history cannot be read."""
    path = history_path(directory)
    f = _open(path)
    if f is None:
        return None
    wanted = selection(report)
    try:
        with f:
            for raw in _lines_newest_first(f):
                parsed = _parse(raw)
                if parsed is None:
                    log.warning("%s: a line that is not a history entry, skipped", path)
                elif _comparable(parsed, report.catalog.sha256, wanted):
                    return parsed
    except OSError as exc:
        raise HistoryError(f"cannot read run history {path}: {exc.strerror or exc}") from exc
    return None


def since_last_run(report: RunReport, directory: Path) -> dict[str, Any] | None:
    """The report's ``since_last_run`` object: what changed since the newest
    run of the same catalogue sha256 and :func:`selection`. ``None`` when
    there is no such run, or (with a warning) when the history cannot be used.
    """
    try:
        last = previous(report, directory)
        if last is None:
            return None
        return diff.compare(last, report).to_dict()
    except HistoryError as exc:
        log.warning("%s; since_last_run left empty", exc)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        # A line that parses as an entry but holds the wrong shapes (a hand edit).
        log.warning("%s: the last comparable entry is malformed (%s: %s); "
                    "since_last_run left empty", history_path(directory),
                    type(exc).__name__, exc)
    return None


# -- the command ----------------------------------------------------------------

SPARK_UNICODE = "\u2581\u2582\u2583\u2584\u2585\u2586\u2587\u2588"
SPARK_ASCII = "_.-:=+*#"


def sparkline(values: list[int], blocks: str = SPARK_UNICODE) -> str:
    """One character per value, scaled from 0 to the largest (so losing 1 of
    17 passes looks like a small dip, not a crash)."""
    top = max(values, default=0)
    if top <= 0:
        return blocks[0] * len(values)
    last = len(blocks) - 1
    return "".join(blocks[round(max(v, 0) / top * last)] for v in values)


def _utf8(encoding: str | None) -> bool:
    return (encoding or "").lower().replace("-", "").replace("_", "").startswith("utf")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from netcheck.cli import _positive_int

    parser.add_argument("--last", type=_positive_int, default=20, metavar="N",
                        help="show the last N runs (default: 20)")
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, metavar="DIR",
                        help="folder holding history.jsonl (default: reports/)")


def main(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from netcheck.cli import UsageError
    from netcheck.sanitize import clean

    try:
        entries = read(args.dir, last=args.last)
    except HistoryError as exc:
        raise UsageError(str(exc)) from None
    if not _utf8(getattr(sys.stdout, "encoding", None)) and hasattr(sys.stdout, "reconfigure"):
        # A console that cannot show a character gets "?", not a traceback.
        sys.stdout.reconfigure(errors="replace")
    console = Console(markup=False, highlight=False, emoji=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 160  # a pipe has no width: don't cut timestamps at 80
    path = history_path(args.dir)
    if not entries:
        console.print(Text(f"no runs recorded in {path} yet "
                           "(each 'netcheck run' appends one line)"))
        return 0
    table = Table(title=f"{path}: last {len(entries)} runs")
    for column, justify in (("started (UTC)", "left"), ("status", "left"), ("pass", "right"),
                            ("warn", "right"), ("fail", "right"), ("skip", "right"),
                            ("duration", "right"), ("catalogue", "left"),
                            ("interrupted", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    colours = {"pass": "green", "warn": "yellow", "fail": "red"}
    passes: list[int] = []
    for e in entries:
        summary = e["summary"]
        counts = [summary.get(k, 0) for k in ("pass", "warn", "fail", "skip")]
        passes.append(int(counts[0]) if isinstance(counts[0], int) else 0)
        status = clean(summary.get("status", "?"), 10)
        catalog = e["catalog"]
        table.add_row(
            Text(clean(e.get("started_at", "?"), 40)),
            Text(status, style=colours.get(status, "")),
            *(Text(clean(c, 10)) for c in counts),
            Text(f"{float(e.get('duration_ms') or 0) / 1000:.1f} s"),
            Text(f"{clean(Path(str(catalog.get('source', '?'))).name, 40)} "
                 f"{clean(catalog.get('sha256', ''))[:8]}"),
            Text("yes" if e.get("interrupted") else ""),
        )
    console.print(table)
    # Unicode blocks wherever the output encoding can carry them, pipe or
    # terminal alike (it is plain text); ASCII levels otherwise.
    blocks, arrow = ((SPARK_UNICODE, "\u2192") if _utf8(console.encoding)
                     else (SPARK_ASCII, "->"))
    console.print(Text(f"passes, oldest {arrow} newest: {sparkline(passes, blocks)}"))
    return 0
