"""The endpoint catalogue: models, YAML loading, validation errors with places.

(The loader is being written; the models below are the fixed interface.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

ProbeKind = Literal["wss", "https", "tls", "tcp"]


@dataclass(frozen=True, slots=True)
class TlsPolicy:
    min_version: str = "1.2"  # "1.0" | "1.1" | "1.2" | "1.3"
    expected_issuers: tuple[str, ...] = ()  # substrings of the issuer DN; empty = any


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str
    host: str
    port: int
    probe: ProbeKind
    path: str = "/"
    expected_ips: tuple[str, ...] = ()  # normalised (ipaddress.compressed)
    tags: tuple[str, ...] = ()
    purpose: str = ""
    required: bool = True
    timeout: float = 5.0
    expect_status: tuple[int, ...] | None = None  # None = probe default
    tls: TlsPolicy = field(default_factory=TlsPolicy)


@dataclass(frozen=True, slots=True)
class Catalog:
    source: str  # path as given, or "endpoints.yaml (built-in)"
    sha256: str  # of the file's bytes
    endpoints: tuple[Endpoint, ...]


class CatalogError(Exception):
    """Every problem found in a catalogue, each with its place."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"{source}: " + "; ".join(problems))
        self.source = source
        self.problems = problems


def builtin_path() -> Path:
    raise NotImplementedError


def load_catalog(path: Path | None = None) -> Catalog:
    raise NotImplementedError


def parse_catalog(text: str, source: str) -> Catalog:
    raise NotImplementedError


def select(catalog: Catalog, only: list[str], tags: list[str]) -> Catalog:
    raise NotImplementedError
