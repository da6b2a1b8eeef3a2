"""The inspection-product list: real issuer names match, public CAs do not."""

from __future__ import annotations

import pytest

from netcheck import inspection

# Issuer DNs as these products' CAs present them (RFC 4514, most specific first).
INSPECTING = [
    ("CN=Zscaler Intermediate Root CA (zscaler.net),OU=Zscaler Inc.,O=Zscaler Inc.,C=US",
     "Zscaler"),
    ("CN=Palo Alto Networks Decryption CA,O=Example Corp", "Palo Alto Networks"),
    ("CN=FortiGate CA,OU=Certificate Authority,O=Fortinet,C=US", "Fortinet FortiGate"),
    ("CN=Fortinet_CA_SSL,O=Fortinet Ltd.", "Fortinet FortiGate"),
    ("CN=ProxySG,O=Blue Coat Systems", "Blue Coat / Symantec ProxySG"),
    ("CN=ca.goskope.com,O=Netskope Inc", "Netskope"),
    ("CN=Cisco Umbrella Secondary SubCA ash-SG,O=Cisco", "Cisco Umbrella"),
    ("CN=Sophos SSL CA_C0FFEE,O=Sophos", "Sophos"),
    ("CN=Check Point Outbound Inspection CA", "Check Point"),
    ("CN=Forcepoint Cloud CA", "Forcepoint / Websense"),
    ("CN=McAfee Web Gateway", "McAfee / Skyhigh Web Gateway"),
    ("CN=Skyhigh Security SSE", "McAfee / Skyhigh Web Gateway"),
    ("CN=Barracuda SSL Inspection", "Barracuda"),
    ("CN=mitmproxy,O=mitmproxy", "mitmproxy"),
    ("CN=DO_NOT_TRUST_FiddlerRoot,O=DO_NOT_TRUST,OU=Created by http://www.fiddler2.com",
     "Fiddler"),
    ("CN=Charles Proxy CA (1 Jan 2026\\, host),OU=https://charlesproxy.com/ssl,O=XK72 Ltd",
     "Charles Proxy"),
    ("CN=PortSwigger CA,OU=PortSwigger CA,O=PortSwigger", "PortSwigger Burp Suite"),
    ("CN=Kaspersky Anti-Virus Personal Root Certificate,O=AO Kaspersky Lab", "Kaspersky"),
    ("CN=ESET SSL Filter CA,O=ESET\\, spol. s r. o.", "ESET"),
    ("CN=avast! Web/Mail Shield Root,O=avast! Web/Mail Shield", "Avast / AVG"),
    ("CN=AVG Web/Mail Shield Root,O=AVG Technologies", "Avast / AVG"),
    ("CN=Bitdefender Personal CA.Net-Defender,O=Bitdefender", "Bitdefender"),
    ("CN=Cisco Firepower Decrypt CA", "Cisco Firepower"),
    ("CN=SRX SSL Proxy,O=Juniper Networks", "Juniper Networks"),
    ("CN=WatchGuard HTTPS Proxy CA", "WatchGuard"),
    ("CN=SonicWall Firewall DPI-SSL", "SonicWall"),
    ("CN=Untangle,O=Untangle", "Untangle"),
    ("CN=Smoothwall Default Root CA", "Smoothwall"),
    ("CN=iboss SSL CA", "iboss"),
    ("CN=Lightspeed Systems Web Filter CA", "Lightspeed Systems"),
    ("CN=Menlo Security Intermediate CA", "Menlo Security"),
    ("CN=Gateway CA - Cloudflare Managed G1 0123abcd,O=Cloudflare\\, Inc.",
     "Cloudflare Gateway"),
    ("CN=Cloudflare for Teams ECC Certificate Authority,O=Cloudflare\\, Inc.",
     "Cloudflare Gateway"),
]

# Public CAs and CDNs that sign real sites: none may read as inspection.
PUBLIC = [
    "CN=DigiCert Global G2 TLS RSA SHA256 2020 CA1,O=DigiCert Inc,C=US",
    "CN=Cloudflare Inc ECC CA-3,O=Cloudflare\\, Inc.,C=US",
    "CN=R11,O=Let's Encrypt,C=US",
    "CN=Symantec Class 3 Secure Server CA - G4,OU=Symantec Trust Network,O=Symantec Corporation",
    "CN=GTS CA 1C3,O=Google Trust Services LLC,C=US",
    "CN=Amazon RSA 2048 M02,O=Amazon,C=US",
    "CN=Sectigo RSA Domain Validation Secure Server CA,O=Sectigo Limited",
    "CN=netcheck lab vendor CA reset,O=Preset Ltd",  # "eset" inside words
]


@pytest.mark.parametrize(("issuer", "product"), INSPECTING)
def test_inspection_issuer_names_its_product(issuer: str, product: str) -> None:
    # Given an issuer DN of an inspection product / When matched / Then it is named
    found = inspection.match(issuer)
    assert found is not None and found.name == product


@pytest.mark.parametrize("issuer", PUBLIC)
def test_public_issuer_is_not_inspection(issuer: str) -> None:
    # Given a public CA's issuer DN / When matched / Then nothing is found
    assert inspection.match(issuer) is None


def test_match_looks_at_every_name_and_skips_empty_ones() -> None:
    # Given a chain whose leaf issuer is harmless but whose intermediate is Zscaler
    found = inspection.match(None, "", "CN=Corp Issuing CA", "O=Zscaler Inc.")
    # Then the product is found
    assert found is not None and found.name == "Zscaler"
    assert inspection.match_any([]) is None


def test_every_product_has_a_test_case() -> None:
    tested = {product for _, product in INSPECTING}
    assert {p.name for p in inspection.PRODUCTS} - tested <= {
        "Cisco WSA (IronPort)", "Trend Micro", "Cato Networks"}
