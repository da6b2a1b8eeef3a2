"""The firewall change request: findings folded into what to change.

(Being written: the dataclasses below are the fixed interface.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from netcheck.model import RunReport

Section = Literal["allow", "tls_bypass", "proxy_allow", "dns_fix"]


@dataclass(frozen=True, slots=True)
class ChangeRow:
    section: Section
    destination: str  # an IP, an FQDN (no fixed IPs), a host:port, or a hostname
    port: int | None
    protocol: str  # "tcp" for allow rules; "" where it means nothing
    hostnames: tuple[str, ...]
    endpoints: tuple[str, ...]  # catalogue entries that need it
    purposes: tuple[str, ...]  # their `purpose`
    seen: str  # what was observed: "dropped", "refused", "issuer: ...", "NXDOMAIN from 10.0.0.2"
    codes: tuple[str, ...]
    action: str  # wording from codes.py, values filled in

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class ChangeRequest:
    allow: tuple[ChangeRow, ...]
    tls_bypass: tuple[ChangeRow, ...]
    proxy_allow: tuple[ChangeRow, ...]
    dns_fix: tuple[ChangeRow, ...]
    already_fine: int  # endpoints that passed

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError


def build_change_request(report: RunReport) -> ChangeRequest:
    raise NotImplementedError
