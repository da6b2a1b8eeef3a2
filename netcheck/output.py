"""Where reports go: output folders checked before probing, file names that
never collide, and atomic writes.

A report file is written to a temporary file in the same folder, flushed and
fsynced, then *linked* to its final name: ``link(2)`` fails if the name
exists, so two runs finishing in the same second never clobber each other
(the second takes ``-2``), and a crash or Ctrl-C never leaves half a report
under a final name.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sys
import tempfile
from pathlib import Path


class OutputError(Exception):
    """A report could not be written; the message names the path and why."""


def check_writable_dir(directory: Path) -> None:
    """Create ``directory`` if needed and prove a file can be written there.

    Run before probing, so a read-only or missing output folder is a usage
    error (exit 2), not a lost run.
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".netcheck-probe-", dir=directory)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        raise OutputError(f"cannot write to output folder {directory}: "
                          f"{exc.strerror or exc}") from exc


def check_writable_file(path: Path) -> None:
    """The folder of ``path`` must exist and be writable (``-`` is stdout)."""
    if str(path) == "-":
        return
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise OutputError(f"cannot write report to {path}: it is a folder")
    if not parent.is_dir():
        raise OutputError(f"cannot write report to {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"cannot write report to {path}: folder {parent} is not writable")


def timestamp_stem(now: dt.datetime | None = None) -> str:
    moment = now if now is not None else dt.datetime.now(dt.UTC)
    return "netcheck-" + moment.strftime("%Y%m%dT%H%M%SZ")


def _tmp_write(directory: Path, data: bytes) -> str:
    fd, tmp = tempfile.mkstemp(prefix=".netcheck-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.chmod(tmp, 0o644)
    return tmp


def write_new(directory: Path, stem: str, extension: str, data: bytes) -> Path:
    """Write ``data`` atomically under a name no other file has."""
    try:
        tmp = _tmp_write(directory, data)
    except OSError as exc:
        raise OutputError(f"cannot write report in {directory}: {exc.strerror or exc}") from exc
    try:
        n = 1
        while True:
            final = directory / f"{stem}{'' if n == 1 else f'-{n}'}{extension}"
            try:
                os.link(tmp, final)
                return final
            except FileExistsError:
                n += 1
            except OSError as exc:
                raise OutputError(f"cannot write {final}: {exc.strerror or exc}") from exc
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def write_path(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (replacing it); ``-`` is stdout."""
    if str(path) == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    directory = path.parent if str(path.parent) else Path(".")
    try:
        tmp = _tmp_write(directory, data)
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
