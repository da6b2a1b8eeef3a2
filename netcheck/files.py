"""Reading files a user names, safely: only regular files, and bounded.

A FIFO nobody writes to would block ``open()`` or ``read()`` forever, a
device could be endless: what the user gives as a catalogue or a saved
report is opened non-blocking and read only when it is a regular file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


class NotARegularFile(OSError):
    """The path names a folder, a FIFO, a device or a socket."""


def read_regular(path: Path, limit: int) -> bytes:
    """Up to ``limit + 1`` bytes of ``path`` (so a caller can tell "too big").

    Raises :class:`NotARegularFile` for anything but a regular file, and the
    usual ``OSError`` for a missing or unreadable one.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with open(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise NotARegularFile(f"{path} is not a regular file")
        return f.read(limit + 1)
