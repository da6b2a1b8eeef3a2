"""The TLS phase: upgrade the runner's connection and judge the certificate.

DESIGN.md "Verdict rules -> TLS" is the spec. Two trust sets:

1. *public*: the public web PKI (certifi) plus ``--ca-bundle``. The vendor's
   certificate must chain here;
2. *system*: this host's store (OpenSSL's default paths, honouring
   ``SSL_CERT_FILE``/``SSL_CERT_DIR``), which an enterprise may have extended
   with its own CA: a chain only this set trusts is TLS inspection.

Cheapest order. The happy path is one handshake on the runner's connection,
verified against set 1 (context built once per ``ca_bundle`` and cached):
no second connection, and ``cryptography`` is not even imported. Only when
that handshake fails in a way the certificate or the protocol version can
explain (a verification error, a protocol-version alert, a reset that an
old-TLS-only server also causes) does the probe open a second connection
through ``ctx.reconnect()``, handshake *without* verification (TLS 1.0+,
SECLEVEL 0, so an old server still answers), read the presented chain, and
judge it with the pure :func:`classify`.

Outcomes (one code per target, by precedence; every defect seen is listed in
``data.problems``)::

    tls.intercepted      chain only the system store trusts; or an issuer names
                         an inspection product (netcheck.inspection); or no issuer
                         matches the endpoint's tls.expected_issuers; or no
                         certificate's key matches its tls.pin_sha256
    tls.untrusted        neither set trusts the chain (or OpenSSL rejected it)
    tls.hostname_mismatch
    tls.expired / tls.not_yet_valid   leaf or a presented intermediate
    tls.version          negotiated below the endpoint's min_version, or the
                         server speaks nothing this client accepts (< TLS 1.2)
    tls.expiring_soon    (warn) within --cert-warn-days
    tls.reset            RST/EOF after the ClientHello (SNI/DPI filtering)
    tls.timeout          handshake stalled
    tls.protocol_error   not TLS (plain HTTP, garbage) or a broken handshake

Besides DESIGN's keys, ``data`` carries ``chain`` (subject, issuer and
``spki_sha256`` of each certificate, leaf first), ``spki_sha256`` (those
pins as a list, to copy into a catalogue's ``tls.pin_sha256``),
``anchor_spki_sha256`` (the trust anchor's pin, when one was found),
``trusted_by`` (``public|system|null``) and ``problems``.

:func:`error_code` is the one place that maps an exception to a code.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import functools
import hashlib
import ipaddress
import os
import re
import ssl
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import certifi

from netcheck import codes, inspection
from netcheck.catalog import TlsPolicy
from netcheck.model import PhaseResult
from netcheck.probes.base import Connection, ProbeContext, Prober, outcome

if TYPE_CHECKING:
    from cryptography import x509

PHASE = "tls"
ALPN = ["http/1.1"]  # the later phases speak HTTP/1.1 only

# OpenSSL X509_V_ERR_* codes (include/openssl/x509_vfy.h) we reason about.
_X509_UNABLE_TO_GET_ISSUER_CERT = 2
_X509_CERT_NOT_YET_VALID = 9
_X509_CERT_HAS_EXPIRED = 10
_X509_ERROR_IN_NOT_BEFORE = 13
_X509_ERROR_IN_NOT_AFTER = 14
_X509_DEPTH_ZERO_SELF_SIGNED = 18
_X509_SELF_SIGNED_IN_CHAIN = 19
_X509_UNABLE_TO_GET_ISSUER_LOCALLY = 20
_X509_UNABLE_TO_VERIFY_LEAF_SIGNATURE = 21
_X509_HOSTNAME_MISMATCH = 62
_X509_IP_ADDRESS_MISMATCH = 64

# OpenSSL builds the chain before anything else (verify_chain: build_chain,
# then extensions, host name, and last signatures and validity dates), so
# these codes, and only these, mean "no path to a trusted root".
_UNANCHORED = frozenset({_X509_UNABLE_TO_GET_ISSUER_CERT, _X509_DEPTH_ZERO_SELF_SIGNED,
                         _X509_SELF_SIGNED_IN_CHAIN, _X509_UNABLE_TO_GET_ISSUER_LOCALLY,
                         _X509_UNABLE_TO_VERIFY_LEAF_SIGNATURE})
# Errors that classify() finds on its own from the certificate's facts.
_EXPLAINED = frozenset({_X509_CERT_NOT_YET_VALID, _X509_CERT_HAS_EXPIRED,
                        _X509_ERROR_IN_NOT_BEFORE, _X509_ERROR_IN_NOT_AFTER,
                        _X509_HOSTNAME_MISMATCH, _X509_IP_ADDRESS_MISMATCH}) | _UNANCHORED

_VERSION_REASONS = frozenset({"TLSV1_ALERT_PROTOCOL_VERSION", "UNSUPPORTED_PROTOCOL",
                              "NO_PROTOCOLS_AVAILABLE", "VERSION_TOO_LOW",
                              "TLSV1_ALERT_INAPPROPRIATE_FALLBACK"})
_RESET_REASONS = frozenset({"UNEXPECTED_EOF_WHILE_READING"})

# What the verifying context negotiates at least (Python's default floor, at
# OpenSSL's SECLEVEL 2): the client is not weakened to find out what an old
# server speaks; the unverified second look does that.
CLIENT_FLOOR = (1, 2)

PRECEDENCE: Mapping[str, int] = {
    "tls.intercepted": 0, "tls.untrusted": 1, "tls.hostname_mismatch": 2,
    "tls.expired": 3, "tls.not_yet_valid": 3, "tls.version": 4, "tls.expiring_soon": 5,
}


# -- facts -------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class CertInfo:
    """What the verdict needs of one certificate (from ssl or cryptography)."""

    subject: str  # RFC 4514 string, most specific first ("CN=...,O=...")
    issuer: str
    san: tuple[str, ...]  # DNS names (lower case) and IP addresses
    not_before: dt.datetime  # aware, UTC
    not_after: dt.datetime
    sha256: str  # hex of the DER's SHA-256
    spki_sha256: str = ""  # base64 SHA-256 of the DER SubjectPublicKeyInfo (an HPKP pin)


@dataclass(frozen=True, slots=True)
class VerifyError:
    """OpenSSL's verdict on the first trust set: one error, its code and message."""

    code: int
    message: str


@dataclass(frozen=True, slots=True)
class Problem:
    code: str
    detail: str
    days: int | None = None  # tls.expiring_soon: days left (the action's {days})

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "detail": self.detail}


def iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def version_tuple(version: str) -> tuple[int, int]:
    """``"TLSv1.2"`` or ``"1.2"`` -> ``(1, 2)``; SSLv3 sorts below TLS 1.0."""
    m = re.search(r"(\d+)\.(\d+)", version)
    if m is None:
        return (0, 0)
    if version.upper().startswith("SSL"):
        return (0, int(m.group(1)))
    return (int(m.group(1)), int(m.group(2)))


def hostname_matches(host: str, san: Iterable[str]) -> bool:
    """RFC 6125 matching of ``host`` against SAN entries (no CN fallback,
    as OpenSSL with Python's settings does): a wildcard stands for exactly
    one whole left-most label."""
    host = host.rstrip(".").lower()
    try:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    for name in san:
        name = name.rstrip(".").lower()
        if ip is not None:
            try:
                if ipaddress.ip_address(name) == ip:
                    return True
            except ValueError:
                pass
            continue
        if name == host:
            return True
        if name.startswith("*.") and "." in host:
            first, rest = host.split(".", 1)
            if first and rest == name[2:] and "." in rest:
                return True
    return False


# -- the verdict ---------------------------------------------------------------

def classify(chain: Sequence[CertInfo], host: str, now: dt.datetime,
             verify_error: VerifyError | None, system_trusted: bool,
             policy: TlsPolicy, warn_days: int, *,
             public_trusted: bool | None = None,
             version: str | None = None,
             anchor_spki: str | None = None) -> tuple[str, list[Problem]]:
    """The one verdict on a presented chain (leaf first): ``(code, problems)``.

    ``verify_error`` is OpenSSL's error against the public set (``None``: it
    verified). ``public_trusted`` says whether the chain anchors in the public
    set whatever its other defects; by default it is read from
    ``verify_error`` (OpenSSL reports a missing anchor before anything else).
    ``system_trusted`` likewise for the system store. ``version`` is the
    negotiated protocol (``"TLSv1.2"``). ``anchor_spki`` is the pin of the
    trust anchor the chain verified to, which a pin may name as HPKP allows
    (the anchor is not in ``chain``). Pure: no I/O, no clock.
    """
    problems: list[Problem] = []
    if public_trusted is None:
        public_trusted = verify_error is None or verify_error.code not in _UNANCHORED
    if not chain:
        if verify_error is not None:
            problems.append(Problem(code_for_verify(verify_error.code), verify_error.message))
    else:
        problems += _trust_problems(chain, verify_error, public_trusted, system_trusted, policy)
        problems += _pin_problems(chain, policy, anchor_spki)
        leaf = chain[0]
        if not hostname_matches(host, leaf.san):
            names = ", ".join(leaf.san) or "no host name (no subjectAltName)"
            problems.append(Problem("tls.hostname_mismatch",
                                    f"the certificate names {names}, not {host}"))
        problems += _date_problems(chain, now, warn_days)
    if version is not None and version_tuple(version) < version_tuple(policy.min_version):
        problems.append(Problem("tls.version", f"negotiated {version}, below the minimum "
                                               f"TLS {policy.min_version}"))
    if not problems:
        return "tls.ok", []
    problems.sort(key=lambda p: PRECEDENCE.get(p.code, 9))  # stable: first seen wins ties
    return problems[0].code, problems


def _trust_problems(chain: Sequence[CertInfo], verify_error: VerifyError | None,
                    public_trusted: bool, system_trusted: bool,
                    policy: TlsPolicy) -> list[Problem]:
    problems: list[Problem] = []
    issuers = [c.issuer for c in chain]
    product = inspection.match(*issuers)
    if product is not None:
        named = next(i for i in issuers if product.matches(i))
        problems.append(Problem("tls.intercepted", f"the issuer {named} names the "
                                                   f"TLS-inspection product {product.name}"))
    if policy.expected_issuers and not any(
            e.lower() in i.lower() for e in policy.expected_issuers for i in issuers):
        problems.append(Problem(
            "tls.intercepted",
            f"the issuer {chain[0].issuer} matches none of the expected issuers "
            f"({', '.join(policy.expected_issuers)})"))
    top = chain[-1].issuer
    if not public_trusted and system_trusted:
        problems.append(Problem("tls.intercepted", f"the chain to {top} is trusted by this "
                                                   "host's system store only, not by the "
                                                   "public web PKI"))
    elif not public_trusted:
        problems.append(Problem("tls.untrusted", f"the chain to {top} is trusted by neither "
                                                 "the public web PKI nor the system store"))
    elif verify_error is not None and verify_error.code not in _EXPLAINED:
        problems.append(Problem("tls.untrusted",
                                f"OpenSSL rejected the chain: {verify_error.message}"))
    return problems


def _pin_problems(chain: Sequence[CertInfo], policy: TlsPolicy,
                  anchor_spki: str | None) -> list[Problem]:
    """HPKP's rule (RFC 7469 section 2.6): the path passes when any of its
    keys is pinned. A certificate re-signed by an inspection box carries the
    box's key, so no pin matches even when the box's CA is trusted."""
    if not policy.pin_sha256:
        return []
    seen = [c.spki_sha256 for c in chain] + ([anchor_spki] if anchor_spki else [])
    if any(k in policy.pin_sha256 for k in seen):
        return []
    return [Problem("tls.intercepted",
                    f"no certificate key in the chain issued by {chain[0].issuer} matches "
                    f"the pinned keys ({', '.join(policy.pin_sha256)})")]


def _date_problems(chain: Sequence[CertInfo], now: dt.datetime,
                   warn_days: int) -> list[Problem]:
    problems: list[Problem] = []
    for i, cert in enumerate(chain):
        what = "the certificate" if i == 0 else f"the intermediate {cert.subject}"
        if now > cert.not_after:
            problems.append(Problem("tls.expired", f"{what} expired on {iso(cert.not_after)}"))
        elif now < cert.not_before:
            problems.append(Problem("tls.not_yet_valid",
                                    f"{what} is not valid before {iso(cert.not_before)} "
                                    f"(this host's clock says {iso(now)})"))
        elif cert.not_after - now < dt.timedelta(days=warn_days):
            days = (cert.not_after - now).days
            problems.append(Problem("tls.expiring_soon", f"{what} expires on "
                                                         f"{iso(cert.not_after)}, in {days} days",
                                    days))
    return problems


def code_for_verify(verify_code: int) -> str:
    """A code from OpenSSL's verification error alone (no chain to look at)."""
    if verify_code in (_X509_CERT_HAS_EXPIRED, _X509_ERROR_IN_NOT_AFTER):
        return "tls.expired"
    if verify_code in (_X509_CERT_NOT_YET_VALID, _X509_ERROR_IN_NOT_BEFORE):
        return "tls.not_yet_valid"
    if verify_code in (_X509_HOSTNAME_MISMATCH, _X509_IP_ADDRESS_MISMATCH):
        return "tls.hostname_mismatch"
    return "tls.untrusted"


# -- exceptions -> codes ---------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Failure:
    code: str
    reason: str
    verify: VerifyError | None = None

    @property
    def worth_a_look(self) -> bool:
        """Whether reading the certificate on a second connection can explain
        it: a verification failure; a version alert; or a reset, which is also
        what an asyncio/OpenSSL server that speaks only old TLS sends."""
        return self.verify is not None or self.code in ("tls.version", "tls.reset")


def error_code(exc: BaseException) -> Failure:
    """Map a handshake exception to a code; the only such mapping."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        verify = VerifyError(exc.verify_code, str(exc.verify_message))
        return Failure(code_for_verify(exc.verify_code), verify.message, verify)
    if isinstance(exc, ssl.SSLEOFError):
        return Failure("tls.reset", "the connection was closed during the handshake")
    if isinstance(exc, ssl.SSLError):
        reason = str(exc.reason or exc.strerror or exc)
        text = str(exc.strerror or exc)
        if reason in _VERSION_REASONS:
            return Failure("tls.version", f"no common TLS version ({text})")
        if reason in _RESET_REASONS:
            return Failure("tls.reset", f"the connection was closed during the handshake "
                                        f"({text})")
        return Failure("tls.protocol_error", f"not a TLS answer ({text})")
    if isinstance(exc, ConnectionAbortedError) and "taking longer" in str(exc):
        # asyncio's own ssl_handshake_timeout (sslproto._check_handshake_timeout)
        return Failure("tls.timeout", "the handshake did not complete")
    if isinstance(exc, TimeoutError):
        return Failure("tls.timeout", "the handshake did not complete")
    if isinstance(exc, ConnectionResetError):
        # asyncio raises a bare ConnectionResetError() for an EOF in the handshake
        why = "reset (RST)" if exc.errno is not None else "closed by the peer"
        return Failure("tls.reset", f"the connection was {why} after the ClientHello")
    if isinstance(exc, OSError):
        return Failure("tls.reset", f"the connection failed during the handshake "
                                    f"({exc.strerror or exc})")
    raise exc  # not a network outcome: a bug


# -- trust sets ---------------------------------------------------------------------

@functools.lru_cache(maxsize=8)
def public_context(ca_bundle: Path | None) -> ssl.SSLContext:
    """The verifying client context for trust set 1, built once per bundle.

    Building a context (parsing ~150 roots) costs far more than a handshake,
    so every target shares it. Raises for an unreadable ``ca_bundle``: the CLI
    can call this before probing to report a usage error.
    """
    ctx = ssl.create_default_context(cafile=certifi.where())
    if ca_bundle is not None:
        ctx.load_verify_locations(cafile=str(ca_bundle))
    ctx.set_alpn_protocols(ALPN)
    return ctx


@functools.lru_cache(maxsize=1)
def _inspect_context() -> ssl.SSLContext:
    """For reading what the server presents: no verification, and every
    protocol version OpenSSL still has (SECLEVEL 0), so an old server answers
    with its real version. Never used for anything but looking."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.set_alpn_protocols(ALPN)
    return ctx


class _Store:
    """Trust anchors indexed by subject, for :func:`anchored`."""

    def __init__(self, certs: Iterable[x509.Certificate]) -> None:
        self.by_subject: dict[x509.Name, list[x509.Certificate]] = {}
        self.fingerprints: set[bytes] = set()
        for cert in certs:
            self.by_subject.setdefault(cert.subject, []).append(cert)
            self.fingerprints.add(_fingerprint(cert))


def _fingerprint(cert: x509.Certificate) -> bytes:
    from cryptography.hazmat.primitives import hashes
    return cert.fingerprint(hashes.SHA256())


@contextlib.contextmanager
def _lenient() -> Iterator[None]:
    """Real stores and appliance CAs hold certificates that break RFC 5280
    (a zero or negative serial number in a certifi root, for one), on which
    cryptography warns; they are still what OpenSSL trusts, so we read them."""
    from cryptography.utils import CryptographyDeprecationWarning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        yield


def _load_pem_certs(data: bytes) -> list[x509.Certificate]:
    from cryptography import x509
    certs = []
    # One unparseable certificate must not hide the others: parse each block.
    with _lenient():
        for block in re.findall(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----",
                                data, re.DOTALL):
            try:
                certs.append(x509.load_pem_x509_certificate(block))
            except ValueError:
                continue
    return certs


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


@functools.lru_cache(maxsize=8)
def _public_store(ca_bundle: Path | None) -> _Store:
    data = _read(Path(certifi.where()))
    if ca_bundle is not None:
        data += b"\n" + _read(ca_bundle)
    return _Store(_load_pem_certs(data))


def system_store_paths() -> tuple[str | None, tuple[str, ...]]:
    """Where OpenSSL's default context looks: the file and the hashed dirs,
    with ``SSL_CERT_FILE``/``SSL_CERT_DIR`` honoured as OpenSSL does."""
    paths = ssl.get_default_verify_paths()
    cafile = os.environ.get(paths.openssl_cafile_env) or paths.openssl_cafile
    capath = os.environ.get(paths.openssl_capath_env) or paths.openssl_capath
    dirs = tuple(d for d in (capath or "").split(os.pathsep) if d)
    return cafile or None, dirs


_HASHED = re.compile(r"^[0-9a-f]{8}\.\d+$")


@functools.lru_cache(maxsize=4)
def _system_store_at(cafile: str | None, dirs: tuple[str, ...],
                     _stamp: tuple[float, ...] = ()) -> _Store:
    data = _read(Path(cafile)) if cafile else b""
    for d in dirs:
        try:
            names = sorted(os.listdir(d))
        except OSError:
            continue
        for name in names:
            if _HASHED.match(name):  # what OpenSSL's by-directory lookup reads
                data += b"\n" + _read(Path(d) / name)
    return _Store(_load_pem_certs(data))


def _system_store() -> _Store:
    # Keyed by the paths in force now, so a changed SSL_CERT_FILE (a test's
    # monkeypatch, an operator's shell) is never answered from a stale cache.
    cafile, dirs = system_store_paths()
    stamp = tuple(_mtime(p) for p in (cafile, *dirs) if p)  # a rewritten bundle is re-read
    return _system_store_at(cafile, dirs, stamp)


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


def _signed_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(parent)
    except Exception:  # name mismatch, bad signature, unsupported key: not its issuer
        return False
    return True


def anchored(chain: Sequence[x509.Certificate], store: _Store, max_depth: int = 100) -> bool:
    """Whether the presented chain leads, by names and signatures, to a
    certificate of ``store`` (see :func:`anchor_of`)."""
    return anchor_of(chain, store, max_depth) is not None


def anchor_of(chain: Sequence[x509.Certificate], store: _Store,
              max_depth: int = 100) -> x509.Certificate | None:
    """The certificate of ``store`` the presented chain leads to, by names
    and signatures; ``None`` when it leads to none.

    Deliberately *only* that: dates, host names and extensions are judged by
    :func:`classify` on their own, so an expired leaf under the enterprise CA
    is still seen as the enterprise's. Why not the alternatives: a second
    handshake with the system context reports one error at a time and cannot
    ignore dates (an expired certificate would hide which store anchors it),
    and costs a third connection; ``cryptography.x509.verification`` applies
    the CA/Browser-Forum profile, which rejects the sloppy private CAs that
    inspection appliances generate, and would call the enterprise's own CA
    "untrusted". A name-and-signature walk answers exactly the question asked.
    """
    if not chain:
        return None
    # Each presented certificate is explored once: a hostile chain whose
    # names form a cycle (X issued by Y and Y by X, several of each, one key)
    # would otherwise make the walk try every path -- exponentially many,
    # synchronously on the event loop, where no timeout can stop it. With
    # that, the depth bound can be OpenSSL's default verify depth (100).
    visited: set[int] = set()

    def walk(cert: x509.Certificate, depth: int) -> x509.Certificate | None:
        if id(cert) in visited:
            return None
        visited.add(id(cert))
        if _fingerprint(cert) in store.fingerprints:
            return cert
        for ca in store.by_subject.get(cert.issuer, ()):
            if _signed_by(cert, ca):
                return ca
        if depth >= max_depth or cert.issuer == cert.subject:
            return None
        for parent in chain:
            if parent is not cert and parent.subject == cert.issuer and _signed_by(cert, parent):
                found = walk(parent, depth + 1)
                if found is not None:
                    return found
        return None

    return walk(chain[0], 0)


# -- reading certificates ------------------------------------------------------------

_DN_SHORT = {"commonName": "CN", "organizationName": "O", "organizationalUnitName": "OU",
             "countryName": "C", "stateOrProvinceName": "ST", "localityName": "L",
             "streetAddress": "STREET", "domainComponent": "DC", "userId": "UID"}


def _escape(value: str) -> str:
    value = re.sub(r'([,+"\\<>;])', r"\\\1", value)
    if value.startswith(("#", " ")):
        value = "\\" + value
    return value[:-1] + "\\ " if value.endswith(" ") else value


def dn_from_ssl(rdns: Sequence[Sequence[tuple[str, str]]]) -> str:
    """``getpeercert()``'s name tuples as the RFC 4514 string cryptography
    prints (most specific RDN first), so both paths report alike."""
    return ",".join("+".join(f"{_DN_SHORT.get(k, k)}={_escape(v)}" for k, v in rdn)
                    for rdn in reversed(rdns))


@functools.lru_cache(maxsize=1024)
def _when(text: str) -> dt.datetime:
    # strptime costs ~20 us a call and the same few dates repeat on every target.
    return dt.datetime.fromtimestamp(ssl.cert_time_to_seconds(text), dt.UTC)


def _tlv(der: bytes, pos: int) -> tuple[int, int, int]:
    """The DER element at ``pos``: (tag, start of its contents, end)."""
    tag, size = der[pos], der[pos + 1]
    pos += 2
    if size & 0x80:
        n = size & 0x7F
        size = int.from_bytes(der[pos:pos + n], "big")
        pos += n
    if pos + size > len(der):
        raise ValueError("truncated DER")
    return tag, pos, pos + size


def spki_sha256(der: bytes) -> str:
    """The HPKP pin of a DER certificate: base64 of the SHA-256 of its
    SubjectPublicKeyInfo exactly as encoded (RFC 7469 section 2.4), which is
    what ``openssl x509 -pubkey | openssl pkey -pubin -outform der | openssl
    dgst -sha256 -binary | base64`` prints. A small DER walk rather than
    cryptography, so the verified happy path stays free of it; ``""`` for a
    certificate that is not well-formed DER."""
    try:
        _, body, _ = _tlv(der, 0)  # Certificate ::= SEQUENCE
        tag, pos, _ = _tlv(der, body)  # tbsCertificate ::= SEQUENCE
        if tag != 0x30:
            return ""
        # [0] version (optional), serialNumber, signature, issuer, validity, subject
        for _ in range(6 if der[pos] == 0xA0 else 5):
            pos = _tlv(der, pos)[2]
        tag, _, end = _tlv(der, pos)
    except (IndexError, ValueError):
        return ""
    if tag != 0x30:
        return ""
    return base64.b64encode(hashlib.sha256(der[pos:end]).digest()).decode("ascii")


def info_from_ssl(info: Mapping[str, Any], der: bytes) -> CertInfo:
    """From ``ssl``'s decoded certificate dict (the happy path: no cryptography)."""
    san = tuple(v.lower() if k == "DNS" else str(ipaddress.ip_address(v.strip()))
                for k, v in info.get("subjectAltName", ()) if k in ("DNS", "IP Address"))
    return CertInfo(subject=dn_from_ssl(info.get("subject", ())),
                    issuer=dn_from_ssl(info.get("issuer", ())), san=san,
                    not_before=_when(info["notBefore"]), not_after=_when(info["notAfter"]),
                    sha256=hashlib.sha256(der).hexdigest(), spki_sha256=spki_sha256(der))


def info_from_x509(cert: x509.Certificate) -> CertInfo:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding
    san: tuple[str, ...] = ()
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        san = tuple([n.lower() for n in ext.get_values_for_type(x509.DNSName)]
                    + [str(a) for a in ext.get_values_for_type(x509.IPAddress)])
    except (x509.ExtensionNotFound, ValueError):
        pass
    return CertInfo(subject=cert.subject.rfc4514_string(), issuer=cert.issuer.rfc4514_string(),
                    san=san, not_before=cert.not_valid_before_utc,
                    not_after=cert.not_valid_after_utc, sha256=_fingerprint(cert).hex(),
                    spki_sha256=spki_sha256(cert.public_bytes(Encoding.DER)))


def _sslobj(writer: asyncio.StreamWriter) -> Any:
    return writer.get_extra_info("ssl_object")


def _chain_certs(ssl_object: Any, verified: bool) -> list[Any]:
    """The chain as ``_ssl.Certificate`` objects: ``get_verified_chain`` and
    ``get_unverified_chain`` are private on the 3.11 SSLObject (public from
    3.13); ``[]`` where neither exists."""
    name = "get_verified_chain" if verified else "get_unverified_chain"
    for obj in (ssl_object, getattr(ssl_object, "_sslobj", None)):
        method = getattr(obj, name, None)
        if method is not None:
            try:
                return list(method() or [])
            except (ssl.SSLError, ValueError):
                return []
    return []


def _der(cert: Any) -> bytes:
    return bytes(cert.public_bytes(ssl._ssl.ENCODING_DER))  # type: ignore[attr-defined]


# CertInfo by DER: every target of a run sees the same few certificates, and
# decoding one (get_info, DN strings, dates, two SHA-256) costs more than the
# rest of the verdict. CertInfo is immutable, so sharing it is safe.
_INFO_CACHE: dict[bytes, CertInfo] = {}
_INFO_CACHE_MAX = 512


def _info_for(cert: Any) -> CertInfo:
    der = _der(cert)
    info = _INFO_CACHE.get(der)
    if info is None:
        info = info_from_ssl(cert.get_info(), der)
        if len(_INFO_CACHE) >= _INFO_CACHE_MAX:
            _INFO_CACHE.clear()  # a run with this many distinct certificates is rare
        _INFO_CACHE[der] = info
    return info


def _verified(ssl_object: Any) -> tuple[list[CertInfo], str | None]:
    """:func:`verified_chain` and :func:`verified_anchor_spki` from one
    walk of the verified chain."""
    certs = _chain_certs(ssl_object, verified=True)
    if not certs:
        der = ssl_object.getpeercert(binary_form=True)
        return ([info_from_ssl(ssl_object.getpeercert(), der)] if der else []), None
    infos = [_info_for(c) for c in certs]
    if len(infos) > 1:
        return infos[:-1], infos[-1].spki_sha256
    return infos, None


def verified_chain(ssl_object: Any) -> list[CertInfo]:
    """The verified path, leaf first, without the trust anchor (the store's
    own expiry is not the server's defect)."""
    return _verified(ssl_object)[0]


def verified_anchor_spki(ssl_object: Any) -> str | None:
    """The pin of the trust anchor the verified path ends in (``None`` when
    the server's certificate is itself the anchor, or the path is unknown)."""
    return _verified(ssl_object)[1]


def presented_ders(ssl_object: Any) -> list[bytes]:
    ders = [_der(c) for c in _chain_certs(ssl_object, verified=False)]
    if not ders:
        leaf = ssl_object.getpeercert(binary_form=True)
        ders = [leaf] if leaf else []
    return ders


# -- the probe ----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Seen:
    """What the unverified look at the server found."""

    ders: list[bytes]
    version: str | None
    cipher: str | None
    alpn: str | None


def _handshake_facts(ssl_object: Any) -> dict[str, Any]:
    cipher = ssl_object.cipher()
    return {"version": ssl_object.version(), "cipher": cipher[0] if cipher else None,
            "alpn": ssl_object.selected_alpn_protocol()}


def _cert_facts(chain: Sequence[CertInfo]) -> dict[str, Any]:
    if not chain:
        return {}
    leaf = chain[0]
    return {"subject": leaf.subject, "issuer": leaf.issuer, "san": list(leaf.san),
            "not_before": iso(leaf.not_before), "not_after": iso(leaf.not_after),
            "sha256": leaf.sha256,
            "chain": [{"subject": c.subject, "issuer": c.issuer, "spki_sha256": c.spki_sha256}
                      for c in chain],
            "spki_sha256": [c.spki_sha256 for c in chain]}


async def _start_tls(conn: Connection, context: ssl.SSLContext, host: str,
                     timeout: float) -> None:
    """``StreamWriter.start_tls`` that leaves a failed connection properly dead.

    On a failed handshake asyncio closes the socket, but its SSLProtocol does
    not tell the stream protocol (sslproto.connection_lost skips the app
    protocol while still in DO_HANDSHAKE), so ``wait_closed()`` would hang
    until its timeout and the reader would never see EOF. We say it ourselves.
    """
    try:
        await conn.writer.start_tls(context, server_hostname=host,
                                    ssl_handshake_timeout=timeout)
    except BaseException:
        stream_protocol: Any = getattr(conn.writer, "_protocol", None)
        closed = getattr(stream_protocol, "_closed", None)
        if stream_protocol is not None and not (closed is not None and closed.done()):
            stream_protocol.connection_lost(None)
        raise


async def _look(ctx: ProbeContext, budget: float) -> _Seen:
    """Second connection: an unverified handshake to read the chain."""
    assert ctx.reconnect is not None
    async with asyncio.timeout(budget):
        conn = await ctx.reconnect()
        try:
            await _start_tls(conn, _inspect_context(), ctx.endpoint.host, budget)
            so = _sslobj(conn.writer)
            facts = _handshake_facts(so)
            return _Seen(presented_ders(so), facts["version"], facts["cipher"], facts["alpn"])
        finally:
            conn.writer.transport.abort()  # a throwaway: no close_notify dance
            await conn.aclose(timeout=0.5)


def _judge_presented(ctx: ProbeContext, seen: _Seen, first: Failure, now: dt.datetime
                     ) -> tuple[str, list[Problem], list[CertInfo], str | None, str | None]:
    """Parse and classify the presented chain (the only cryptography user)."""
    from cryptography import x509
    with _lenient():
        certs = [x509.load_der_x509_certificate(d) for d in seen.ders]
        chain = [info_from_x509(c) for c in certs]
    verify = first.verify
    root = anchor_of(certs, _public_store(ctx.options.ca_bundle))
    if verify is not None and verify.code in _UNANCHORED:
        root = None  # OpenSSL's own chain building has the last word
    public = root is not None
    if root is None:
        root = anchor_of(certs, _system_store())
    system = not public and root is not None
    trusted_by = "public" if public else "system" if system else None
    anchor = info_from_x509(root).spki_sha256 if root is not None else None
    code, problems = classify(chain, ctx.endpoint.host, now, verify, system,
                              ctx.endpoint.tls, ctx.options.cert_warn_days,
                              public_trusted=public, version=seen.version,
                              anchor_spki=anchor)
    return code, problems, chain, trusted_by, anchor


def _detail(code: str, problems: Sequence[Problem], ctx: ProbeContext,
            facts: Mapping[str, Any]) -> str:
    host = ctx.endpoint.host
    if code == "tls.ok":
        return (f"{facts.get('version')} with {host} verified: issued by {facts.get('issuer')}, "
                f"valid until {facts.get('not_after')}.")
    first = problems[0].detail if problems else code
    text = f"{host} at {ctx.target}:{ctx.endpoint.port}: {first}"
    others = [p.detail for p in problems[1:]]
    if others:
        text += "; also " + "; ".join(others)
    return text + "."


def _result(ctx: ProbeContext, code: str, problems: Sequence[Problem],
            data: dict[str, Any]) -> PhaseResult:
    data["problems"] = [p.to_dict() for p in problems]
    data["min_version"] = ctx.endpoint.tls.min_version
    days = [p.days for p in problems if p.days is not None]
    if days:
        data["days"] = min(days)
    hint = _where_to_bypass(ctx, code)
    if hint:
        data["hint"] = hint
    return outcome(PHASE, code, _detail(code, problems, ctx, data), data)


def _where_to_bypass(ctx: ProbeContext, code: str) -> str:
    """Inside a proxy tunnel the inspecting device is most often that proxy
    itself: say where the bypass goes (the action's ``{hint}``)."""
    proxy = ctx.options.proxy
    if code != "tls.intercepted" or ctx.ip is not None or proxy is None:
        return ""
    return codes.hint("tls.bypass_on_proxy", proxy=proxy.display)


async def run(ctx: ProbeContext, conn: Connection | None
              ) -> tuple[PhaseResult, Connection | None]:
    """Upgrade ``conn`` to TLS in place (SNI = the endpoint's host, always).

    Returns ``conn`` in every case: upgraded (``conn.tls``) on success; on
    failure its transport is already closed by ``start_tls``, and the runner
    closes it as usual.
    """
    if conn is None:
        raise ValueError("the tls phase needs the connection the tcp phase opened")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ctx.timeout
    host = ctx.endpoint.host
    if conn.writer.transport.is_closing() or conn.reader.at_eof():
        closed = Problem("tls.reset", "the connection was closed before the ClientHello")
        return _result(ctx, "tls.reset", [closed], {"error": closed.detail}), conn
    try:
        await _start_tls(conn, public_context(ctx.options.ca_bundle), host, ctx.timeout)
    except (OSError, TimeoutError) as exc:
        first = error_code(exc)
    else:
        conn.tls = True
        so = _sslobj(conn.writer)
        chain, anchor = _verified(so)
        code, problems = classify(chain, host, _now(), None, False, ctx.endpoint.tls,
                                  ctx.options.cert_warn_days, version=so.version(),
                                  anchor_spki=anchor)
        data = {**_handshake_facts(so), **_cert_facts(chain), "trusted_by": "public",
                "verify_error": None, "anchor_spki_sha256": anchor}
        return _result(ctx, code, problems, data), conn

    data = {"error": first.reason,
            "verify_error": first.verify.message if first.verify else None}
    budget = deadline - loop.time()
    if not first.worth_a_look:
        return _result(ctx, first.code, [Problem(first.code, first.reason)], data), conn
    if ctx.reconnect is None or budget < 0.05:
        data["inspect_error"] = "no second connection possible"
        return _result(ctx, first.code, [Problem(first.code, first.reason)], data), conn
    try:
        seen = await _look(ctx, budget)
    except (OSError, TimeoutError) as exc:
        # The look failed too (a reset twice is SNI filtering, not old TLS):
        # the first failure stands.
        data["inspect_error"] = error_code(exc).reason
        return _result(ctx, first.code, [Problem(first.code, first.reason)], data), conn
    try:
        code, problems, chain, trusted_by, anchor = _judge_presented(ctx, seen, first, _now())
    except ValueError as exc:  # a certificate cryptography cannot parse
        data["inspect_error"] = f"unparseable certificate: {exc}"
        return _result(ctx, first.code, [Problem(first.code, first.reason)], data), conn
    if first.verify is None:
        code, problems = _explain(first, seen, problems)
    data.update(version=seen.version, cipher=seen.cipher, alpn=seen.alpn, **_cert_facts(chain),
                trusted_by=trusted_by, anchor_spki_sha256=anchor)
    return _result(ctx, code, problems, data), conn


def _explain(first: Failure, seen: _Seen, problems: list[Problem]) -> tuple[str, list[Problem]]:
    """After a version alert or a reset, the unverified look (which allows
    TLS 1.0+) tells an old server from a filter: if it negotiated below the
    verifying context's floor, the version was the cause; if it got through
    at a modern version, the first failure stands, as a filter that lets
    some handshakes pass is still a filter."""
    if seen.version is not None and version_tuple(seen.version) < CLIENT_FLOOR:
        if not any(p.code == "tls.version" for p in problems):
            problems = [*problems, Problem("tls.version", f"the server offers only "
                                                          f"{seen.version}; this client "
                                                          f"requires TLS 1.2 or newer")]
        problems.sort(key=lambda p: PRECEDENCE.get(p.code, 9))
        return problems[0].code, problems
    return first.code, [Problem(first.code, first.reason), *problems]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


PROBER = Prober(PHASE, run, "tls.timeout")
