"""The DNS phase: ask each resolver for A and AAAA, then judge the answers.

Two halves, as everywhere in netcheck:

* :func:`query` does the I/O. For every resolver given (none = the system's,
  from /etc/resolv.conf) it asks A and AAAA concurrently with dnspython's
  async stub resolver, each bounded by ``timeout``, and records per resolver
  and record type: the outcome code, the addresses, the CNAME chain, the TTL,
  the error text and the time taken. dnspython retries over TCP by itself
  when a UDP answer is truncated. It never raises for a network outcome.
* :func:`compare` is pure: it turns a :class:`DnsAnswer` and the endpoint's
  published addresses into the phase's :class:`~netcheck.model.DnsResult`.

:func:`_code_for` is the one place where dnspython's exceptions become codes::

    dns.resolver.NXDOMAIN                    -> dns.nxdomain
    dns.resolver.NoAnswer                    -> dns.no_answer   (NOERROR, no record: NODATA)
    dns.resolver.NoNameservers, an answer
        with rcode SERVFAIL or REFUSED       -> dns.servfail
    dns.exception.Timeout (LifetimeTimeout),
        TimeoutError                         -> dns.timeout
    anything else from dnspython or the OS   -> dns.error       (FORMERR/NOTIMP answers,
        a malformed answer, no resolver configuration, YXDOMAIN, ...)

A resolver port where nothing listens gives ``dns.timeout``, not an error:
dnspython's UDP socket is not connected, so the kernel's ICMP "port
unreachable" never reaches it and the query simply goes unanswered.

dnspython is imported by this module only, so the CLI loads it only when a
run actually resolves something.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import dns.asyncresolver
import dns.exception
import dns.message
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver

from netcheck import codes
from netcheck.model import DnsResult

SYSTEM = "system"
"""The ``server`` label of the answer from the system's resolvers."""

RECORD_TYPES = ("A", "AAAA")

_RESOLV_CONF = "/etc/resolv.conf"
# dnspython's own default per-attempt timeout: a long --timeout still
# retransmits a lost UDP query instead of waiting for it the whole time.
_ATTEMPT_TIMEOUT = 2.0


# -- what was asked and answered ---------------------------------------------

@dataclass(frozen=True, slots=True)
class RecordAnswer:
    """One query (one resolver, one record type) and its outcome."""

    code: str  # dns.ok when addresses came back, else the failure's code
    addresses: tuple[str, ...] = ()  # normalised (ipaddress .compressed), sorted
    cname: tuple[str, ...] = ()  # CNAME targets followed, in order; last = canonical
    ttl: int | None = None  # of the address records; None without them
    error: str = ""  # what went wrong, for a human; "" on success
    duration_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "addresses": list(self.addresses),
            "ttl": self.ttl,
            "cname": list(self.cname),
            "error": self.error,
            "duration_ms": round(self.duration_ms, 3),
        }


@dataclass(frozen=True, slots=True)
class ResolverAnswer:
    """What one resolver answered for A and AAAA."""

    server: str  # "127.0.0.1:5353", "[::1]:53", or SYSTEM
    a: RecordAnswer
    aaaa: RecordAnswer
    nameservers: tuple[str, ...] = ()  # for SYSTEM: what resolv.conf lists

    @property
    def records(self) -> tuple[tuple[str, RecordAnswer], ...]:
        return (("A", self.a), ("AAAA", self.aaaa))

    @property
    def who(self) -> str:
        """The resolver as a sentence names it."""
        if self.server != SYSTEM:
            return self.server
        if self.nameservers:
            return f"the system resolver ({', '.join(self.nameservers)})"
        return "the system resolver"

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"server": self.server}
        if self.server == SYSTEM:
            d["nameservers"] = list(self.nameservers)
        d["A"] = self.a.to_dict()
        d["AAAA"] = self.aaaa.to_dict()
        return d


@dataclass(frozen=True, slots=True)
class DnsAnswer:
    """Everything :func:`query` learnt about one host, before any judgement."""

    host: str
    timeout: float
    resolvers: tuple[ResolverAnswer, ...] = ()
    literal: str | None = None  # the host itself, normalised, when it is an IP address

    @property
    def addresses(self) -> tuple[str, ...]:
        """Union over resolvers and both types: every A first, then every
        AAAA, in resolver order, without duplicates."""
        if self.literal is not None:
            return (self.literal,)
        seen = [*(x for r in self.resolvers for x in r.a.addresses),
                *(x for r in self.resolvers for x in r.aaaa.addresses)]
        return tuple(dict.fromkeys(seen))


def format_resolver(host: str, port: int) -> str:
    """``127.0.0.1:5353`` / ``[::1]:53``: how a resolver is named in results."""
    if ipaddress.ip_address(host).version == 6:
        return f"[{host}]:{port}"
    return f"{host}:{port}"


def system_resolvers(path: str = _RESOLV_CONF) -> tuple[str, ...]:
    """The nameservers the system's resolver configuration lists.

    Reads the file through dnspython's own parser (the one :func:`query`
    uses); sends nothing. No file or no nameserver gives ``()``.
    """
    try:
        resolver = dns.resolver.BaseResolver(filename=path, configure=True)
    except dns.resolver.NoResolverConfiguration:
        return ()
    return _nameservers_of(resolver)


# -- I/O ----------------------------------------------------------------------

async def query(host: str, resolvers: tuple[tuple[str, int], ...],
                timeout: float) -> DnsAnswer:
    """Ask every resolver (``()`` = the system's) for A and AAAA of ``host``.

    Every query is bounded by ``timeout`` seconds and all run concurrently,
    so the whole call takes about ``timeout`` at worst. An IP address as
    ``host`` is its own answer and sends nothing.
    """
    literal = _ip_literal(host)
    if literal is not None:
        return DnsAnswer(host=host, timeout=timeout, literal=literal)
    asked = [_ask_resolver(host, (h, p), timeout) for h, p in resolvers]
    if not asked:
        asked = [_ask_resolver(host, None, timeout)]
    answers = await asyncio.gather(*asked)
    return DnsAnswer(host=host, timeout=timeout, resolvers=tuple(answers))


async def resolve(host: str, expected_ips: tuple[str, ...],
                  resolvers: tuple[tuple[str, int], ...], timeout: float) -> DnsResult:
    """:func:`query` then :func:`compare`, for callers that want the verdict only."""
    return compare(await query(host, resolvers, timeout), expected_ips)


async def _ask_resolver(host: str, nameserver: tuple[str, int] | None,
                        timeout: float) -> ResolverAnswer:
    # One Resolver per address: dnspython's Resolver.port is shared by all
    # its nameservers, and each --resolver may have its own port.
    server = SYSTEM if nameserver is None else format_resolver(*nameserver)
    try:
        resolver = _make_resolver(nameserver, timeout)
        # Absolute name: a catalogue host is a FQDN, never completed by a search list.
        qname = dns.name.from_text(host.strip().rstrip(".") + ".")
    except dns.exception.DNSException as exc:  # no resolv.conf; a name DNS cannot carry
        code, text = _code_for(exc, timeout)
        return ResolverAnswer(server=server, a=RecordAnswer(code=code, error=text),
                              aaaa=RecordAnswer(code=code, error=text))
    listed = _nameservers_of(resolver) if nameserver is None else ()
    a, aaaa = await asyncio.gather(_ask(resolver, qname, "A", timeout),
                                   _ask(resolver, qname, "AAAA", timeout))
    return ResolverAnswer(server=server, a=a, aaaa=aaaa, nameservers=listed)


def _make_resolver(nameserver: tuple[str, int] | None,
                   timeout: float) -> dns.asyncresolver.Resolver:
    if nameserver is None:
        resolver = dns.asyncresolver.Resolver(configure=True)
    else:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [dns.nameserver.Do53Nameserver(*nameserver)]
    resolver.lifetime = timeout
    resolver.timeout = min(resolver.timeout, timeout, _ATTEMPT_TIMEOUT)
    resolver.cache = None  # the runner asks once per host; a cache would hide a flaky resolver
    return resolver


def _nameservers_of(resolver: dns.resolver.BaseResolver) -> tuple[str, ...]:
    return tuple(ns if isinstance(ns, str) else ns.answer_nameserver()
                 for ns in resolver.nameservers)


async def _ask(resolver: dns.asyncresolver.Resolver, qname: dns.name.Name,
               rdtype: str, timeout: float) -> RecordAnswer:
    start = time.perf_counter()
    try:
        # dnspython checks its lifetime only between attempts and may sleep a
        # back-off first; the outer bound makes ``timeout`` exact.
        async with asyncio.timeout(timeout):
            answer = await resolver.resolve(qname, rdtype, lifetime=timeout, search=False)
    except (dns.exception.DNSException, OSError) as exc:
        code, text = _code_for(exc, timeout)
        return RecordAnswer(code=code, cname=_chain_of_failure(exc), error=text,
                            duration_ms=_ms_since(start))
    rrset = answer.rrset
    assert rrset is not None  # resolve() raises NoAnswer otherwise
    return RecordAnswer(
        code="dns.ok",
        # Sorted: an RRset's order means nothing (resolvers rotate it), and
        # sorted answers make two runs' reports comparable.
        addresses=tuple(sorted({_normalise(r.address) for r in rrset}, key=ipaddress.ip_address)),
        cname=_chain(answer.chaining_result.cnames),
        ttl=rrset.ttl,
        duration_ms=_ms_since(start),
    )


def _code_for(exc: BaseException, timeout: float) -> tuple[str, str]:
    """The one mapping of dnspython/OS exceptions to DNS codes (and a text)."""
    if isinstance(exc, dns.resolver.NXDOMAIN):
        return "dns.nxdomain", "NXDOMAIN"
    if isinstance(exc, dns.resolver.NoAnswer):
        return "dns.no_answer", "no record of this type (NOERROR, empty answer)"
    if isinstance(exc, dns.resolver.NoNameservers):
        errors = exc.kwargs.get("errors") or []
        # dnspython records an rcode it did not like as its text, and an
        # I/O or parsing failure as the exception itself.
        rcodes = list(dict.fromkeys(e[3] for e in errors if isinstance(e[3], str)))
        if "SERVFAIL" in rcodes or "REFUSED" in rcodes:
            return "dns.servfail", "/".join(rcodes)
        if rcodes:
            return "dns.error", "answered " + "/".join(rcodes)
        texts = list(dict.fromkeys(str(e[3]) or type(e[3]).__name__ for e in errors))
        return "dns.error", "; ".join(texts) or "no usable answer"
    if isinstance(exc, dns.exception.Timeout | TimeoutError):
        return "dns.timeout", f"no answer within {timeout:g} s"
    return "dns.error", str(exc) or type(exc).__name__


def _chain_of_failure(exc: BaseException) -> tuple[str, ...]:
    """The CNAME chain a negative answer still carries (a CNAME to a dead name)."""
    # Read from kwargs: the accessor methods are untyped in dnspython.
    responses: Iterable[object] = ()
    if isinstance(exc, dns.resolver.NoAnswer):
        responses = (exc.kwargs.get("response"),)
    elif isinstance(exc, dns.resolver.NXDOMAIN):
        responses = (exc.kwargs.get("responses") or {}).values()
    for response in responses:
        if isinstance(response, dns.message.QueryMessage):
            with contextlib.suppress(dns.exception.DNSException):
                return _chain(response.resolve_chaining().cnames)
    return ()


def _chain(cnames: Iterable[Any]) -> tuple[str, ...]:
    return tuple(rrset[0].target.to_text(omit_final_dot=True) for rrset in cnames)


def _ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1000


# -- pure logic ---------------------------------------------------------------

def _normalise(address: str) -> str:
    return ipaddress.ip_address(address).compressed


def _ip_literal(host: str) -> str | None:
    with contextlib.suppress(ValueError):
        return _normalise(host.strip().strip("[]"))
    return None


def compare(answer: DnsAnswer, expected_ips: tuple[str, ...]) -> DnsResult:
    """Judge ``answer`` against the endpoint's published addresses (pure).

    * No address from any resolver: the code is the outcome of the *A* query
      at the first resolver (in the order given); every published address is
      ``missing``.
    * Otherwise, with ``expected_ips`` empty (a CDN host): ``dns.ok``, any
      address will do.
    * Otherwise: ``dns.unexpected_ip`` (warn) when any resolver answered an
      address that is not published; else ``dns.missing_expected`` (pass,
      an info finding) when every answer is published but some published
      address was in no answer; else ``dns.ok``. ``missing`` is filled in
      every case, ``unexpected`` whenever there is one.

    A failed query beside a good one (AAAA failing beside a good A, or one
    resolver failing beside another) does not change the code; it is listed
    in ``data["notes"]`` and kept in ``data["resolvers"]``.
    """
    expected = tuple(dict.fromkeys(_normalise(x) for x in expected_ips))
    addresses = answer.addresses
    unexpected = tuple(a for a in addresses if a not in expected) if expected else ()
    missing = tuple(e for e in expected if e not in addresses)

    decisive: tuple[ResolverAnswer, RecordAnswer] | None = None
    if not addresses and answer.resolvers:
        decisive = (answer.resolvers[0], answer.resolvers[0].a)
        code = decisive[1].code
        detail = _failure_detail(answer, decisive)
        resolver = decisive[0].who
    elif unexpected:
        code = "dns.unexpected_ip"
        detail, resolver = _unexpected_detail(answer, unexpected, expected)
    else:
        code = "dns.missing_expected" if missing else "dns.ok"
        detail = _answered_detail(answer, addresses, expected, missing)
        resolver = ", ".join(r.who for r in answer.resolvers if _addresses_of(r))

    data: dict[str, Any] = {
        "resolvers": [r.to_dict() for r in answer.resolvers],
        "resolver": resolver,
        "cname": list(_first_chain(answer)),
        "ttl": _min_ttl(answer),
        "notes": _notes(answer, decisive),
        "timeout": answer.timeout,
        "literal": answer.literal is not None,
    }
    return DnsResult(
        status=codes.status_of(code), code=code, detail=detail, data=data,
        addresses=addresses, expected_ips=expected, unexpected=unexpected, missing=missing,
    )


def _addresses_of(r: ResolverAnswer) -> tuple[str, ...]:
    return r.a.addresses + r.aaaa.addresses


def _listing(items: Iterable[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _via(answer: DnsAnswer) -> str:
    chain = _first_chain(answer)
    return f" via CNAME {' -> '.join(chain)}" if chain else ""


def _failure_phrase(host: str, r: ResolverAnswer, rec: RecordAnswer, timeout: float) -> str:
    who = r.who
    if rec.code == "dns.nxdomain":
        via = f", via CNAME {' -> '.join(rec.cname)}" if rec.cname else ""
        return f"{who} says {host} does not exist (NXDOMAIN{via})"
    if rec.code == "dns.no_answer":
        types = "A or AAAA" if r.aaaa.code == "dns.no_answer" else "A"
        return f"{who} has no {types} record for {host}"
    if rec.code == "dns.servfail":
        return f"{who} answered {rec.error} for {host}"
    if rec.code == "dns.timeout":
        return f"{who} did not answer for {host} within {timeout:g} s"
    return f"{who} could not resolve {host}: {rec.error}"


def _failure_detail(answer: DnsAnswer,
                    decisive: tuple[ResolverAnswer, RecordAnswer]) -> str:
    first = _failure_phrase(answer.host, *decisive, answer.timeout)
    others = [_failure_phrase(answer.host, r, r.a, answer.timeout)
              for r in answer.resolvers[1:]]
    return "; ".join([first, *others])


def _unexpected_detail(answer: DnsAnswer, unexpected: tuple[str, ...],
                       expected: tuple[str, ...]) -> tuple[str, str]:
    parts: list[str] = []
    whos: list[str] = []
    if answer.literal is not None:
        return (f"{answer.host} is an IP address that is not in the published list "
                f"({_listing(expected)})", "")
    for r in answer.resolvers:
        bad = [a for a in _addresses_of(r) if a in unexpected]
        if bad:
            verb = "is" if len(bad) == 1 else "are"
            parts.append(f"{r.who} answered {_listing(bad)}, which {verb} not in the "
                         f"published list ({_listing(expected)})")
            whos.append(r.who)
    return "; ".join(parts), ", ".join(whos)


def _answered_detail(answer: DnsAnswer, addresses: tuple[str, ...],
                     expected: tuple[str, ...], missing: tuple[str, ...]) -> str:
    if answer.literal is not None:
        head = f"{answer.host} is an IP address; no DNS query was needed"
    else:
        whos = _listing(r.who for r in answer.resolvers if _addresses_of(r))
        head = f"{whos} answered {_listing(addresses)}{_via(answer)}"
    if not expected:
        return f"{head} (no published list: any address is accepted)"
    if missing:
        verb = "was" if len(missing) == 1 else "were"
        return (f"{head}; published {_listing(missing)} {verb} not in the answer "
                f"and {'is' if len(missing) == 1 else 'are'} still probed")
    return f"{head}, all published"


def _first_chain(answer: DnsAnswer) -> tuple[str, ...]:
    for r in answer.resolvers:
        for _, rec in r.records:
            if rec.cname:
                return rec.cname
    return ()


def _min_ttl(answer: DnsAnswer) -> int | None:
    ttls = [rec.ttl for r in answer.resolvers for _, rec in r.records if rec.ttl is not None]
    return min(ttls) if ttls else None


def _notes(answer: DnsAnswer,
           decisive: tuple[ResolverAnswer, RecordAnswer] | None) -> list[str]:
    """Every failed query that did not decide the code, in a few words each."""
    notes = []
    for r in answer.resolvers:
        for rdtype, rec in r.records:
            if rec.code == "dns.ok" or (decisive is not None and r is decisive[0]
                                        and rdtype == "A"):
                continue
            notes.append(f"{rdtype} at {r.who}: {rec.code} ({rec.error})")
    return notes


__all__ = [
    "RECORD_TYPES",
    "SYSTEM",
    "DnsAnswer",
    "RecordAnswer",
    "ResolverAnswer",
    "compare",
    "format_resolver",
    "query",
    "resolve",
    "system_resolvers",
]
