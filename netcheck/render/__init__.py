"""One module per output format, each ``render(report) -> str | bytes``.

The registry maps a format name to its module and file extension; modules are
imported only when a format is asked for, so start-up stays fast.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from netcheck.model import RunReport


@dataclass(frozen=True, slots=True)
class Format:
    name: str
    module: str
    extension: str
    machine: bool  # a machine format on stdout sends human output to stderr


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("console", "netcheck.render.console", ".txt", machine=False),
        Format("json", "netcheck.render.json", ".json", machine=True),
        Format("junit", "netcheck.render.junit", ".xml", machine=True),
        Format("markdown", "netcheck.render.markdown", ".md", machine=True),
        Format("html", "netcheck.render.html", ".html", machine=True),
        Format("csv", "netcheck.render.csv", ".csv", machine=True),
        Format("prometheus", "netcheck.render.prometheus", ".prom", machine=True),
    )
}


def renderer(name: str) -> Callable[[RunReport], str | bytes]:
    fn: Callable[[RunReport], str | bytes] = importlib.import_module(FORMATS[name].module).render
    return fn
