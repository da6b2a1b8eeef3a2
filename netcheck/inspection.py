"""The maintained list of TLS-inspection products, and how to recognise one.

A TLS-inspecting proxy or firewall re-signs every site's certificate with its
own CA. That CA's name almost always carries the product's or the vendor's
name, so an issuer naming one of these is ``tls.intercepted`` even when the
CA is trusted nowhere (DESIGN.md, "Verdict rules -> TLS").

Patterns are case-insensitive regular expressions searched in an issuer's
distinguished name (and organisation). They are deliberately narrow where a
vendor's name is also a public CA or a CDN that legitimately issues server
certificates: "Symantec" alone was a public CA (now DigiCert), and Cloudflare
issues the edge certificates of countless real sites, so only the names of
Cloudflare's *Gateway* inspection CA count, not "Cloudflare Inc ECC CA-3".

To add a product: append an entry with the names its CA is known to use, and
a test in ``tests/test_inspection.py`` with a real-world issuer DN.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class InspectionProduct:
    name: str
    patterns: tuple[str, ...]
    # One compiled alternation: matches() runs on every issuer of every target.
    _rx: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_rx", re.compile(
            "|".join(f"(?:{p})" for p in self.patterns), re.IGNORECASE))

    def matches(self, text: str) -> bool:
        return self._rx.search(text) is not None


def _p(name: str, *patterns: str) -> InspectionProduct:
    return InspectionProduct(name, patterns)


PRODUCTS: tuple[InspectionProduct, ...] = (
    _p("Zscaler", r"zscaler"),
    _p("Palo Alto Networks", r"palo\s*alto\s*networks", r"paloaltonetworks", r"\bpan-os\b"),
    _p("Fortinet FortiGate", r"fortinet", r"fortigate"),
    _p("Blue Coat / Symantec ProxySG", r"blue\s*coat", r"proxysg",
       r"symantec\s+web\s+security"),
    _p("Netskope", r"netskope"),
    _p("Cisco Umbrella", r"cisco\s+umbrella", r"\bopendns\b"),
    _p("Cisco Firepower", r"firepower", r"sourcefire"),
    _p("Cisco WSA (IronPort)", r"ironport"),
    _p("Sophos", r"sophos"),
    _p("Check Point", r"check\s*point"),
    _p("Forcepoint / Websense", r"forcepoint", r"websense"),
    _p("McAfee / Skyhigh Web Gateway", r"mcafee", r"skyhigh"),
    _p("Barracuda", r"barracuda"),
    _p("mitmproxy", r"mitmproxy"),
    _p("Fiddler", r"do_not_trust", r"fiddler"),
    _p("Charles Proxy", r"charles\s*proxy", r"\bxk72\b"),
    _p("PortSwigger Burp Suite", r"portswigger", r"\bburp\b"),
    _p("Kaspersky", r"kaspersky"),
    _p("ESET", r"\beset\s+ssl\s+filter", r"\beset,?\s+spol"),
    _p("Avast / AVG", r"\bavast\b", r"\bavg\b.*\bshield\b"),
    _p("Bitdefender", r"bitdefender"),
    _p("Juniper Networks", r"juniper"),
    _p("WatchGuard", r"watchguard"),
    _p("SonicWall", r"sonicwall"),
    _p("Untangle", r"untangle"),
    _p("Smoothwall", r"smoothwall"),
    _p("iboss", r"\biboss\b"),
    _p("Lightspeed Systems", r"\blightspeed\b"),
    _p("Menlo Security", r"menlo\s+security"),
    _p("Cloudflare Gateway", r"cloudflare\s+for\s+teams", r"gateway\s+ca\s*-\s*cloudflare"),
    _p("Trend Micro", r"trend\s*micro"),
    _p("Cato Networks", r"cato\s+networks"),
)


@functools.lru_cache(maxsize=256)  # issuer DNs repeat across every target
def match(*names: str | None) -> InspectionProduct | None:
    """The inspection product any of ``names`` (issuer DNs, organisations) names."""
    for text in names:
        if not text:
            continue
        for product in PRODUCTS:
            if product.matches(text):
                return product
    return None


def match_any(names: Iterable[str | None]) -> InspectionProduct | None:
    return match(*names)
