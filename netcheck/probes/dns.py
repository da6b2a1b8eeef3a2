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

**The OS resolver path.** The product's apps resolve through the OS
(``getaddrinfo``: /etc/hosts and nsswitch), not with direct DNS queries. When
/etc/hosts has an entry for the host (reading the file sends nothing), and
nsswitch.conf's ``hosts:`` line consults ``files`` before any source that can
send a packet (dns, resolve, mdns, ...), :func:`query` also asks
``getaddrinfo``: glibc then answers from the file and stops, so the lookup
never leaves the machine. An entry behind a network source is only reported
in ``data.os``, never looked up. :func:`compare` reports an OS answer that
differs from DNS as ``dns.hosts_override``, and the OS addresses join the
targets (the apps connect to them).

**Several resolvers** that give definite, conflicting answers (NXDOMAIN
against addresses, or address sets with nothing in common: see
:func:`disagreement`) are ``dns.resolver_mismatch``; a resolver that failed
(timeout, SERVFAIL) has no opinion and is only noted.

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
import os
import socket
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
HOSTS_FILE = "/etc/hosts"
NSSWITCH_FILE = "/etc/nsswitch.conf"
OS_SOURCE = "/etc/hosts"
"""How results name the OS resolver path's source."""
# nsswitch sources that answer without sending a packet. Everything else
# (dns, resolve, mdns*, wins, nis, ldap, sss, ...) may ask the network.
_LOCAL_NSS_SOURCES = frozenset({"files", "myhostname", "mymachines"})
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
class OsAnswer:
    """The OS resolver path for one host: its /etc/hosts entry and what
    ``getaddrinfo`` returned, when it was safe to ask."""

    hosts_entries: tuple[str, ...]  # what the hosts file maps the name to, normalised
    nsswitch: tuple[str, ...]  # the sources of nsswitch.conf's hosts line, in order
    looked_up: bool  # getaddrinfo was called
    addresses: tuple[str, ...] = ()  # what it returned: IPv4 first, each family sorted
    error: str = ""  # getaddrinfo failed (an entry was there: unexpected)
    reason: str = ""  # why it was not called

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": OS_SOURCE,
            "hosts_entries": list(self.hosts_entries),
            "nsswitch": list(self.nsswitch),
            "looked_up": self.looked_up,
            "addresses": list(self.addresses),
            "error": self.error,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class DnsAnswer:
    """Everything :func:`query` learnt about one host, before any judgement."""

    host: str
    timeout: float
    resolvers: tuple[ResolverAnswer, ...] = ()
    literal: str | None = None  # the host itself, normalised, when it is an IP address
    os: OsAnswer | None = None  # None: /etc/hosts has no entry for the host

    @property
    def dns_addresses(self) -> tuple[str, ...]:
        """Union over resolvers and both types: every A first, then every
        AAAA, in resolver order, without duplicates."""
        seen = [*(x for r in self.resolvers for x in r.a.addresses),
                *(x for r in self.resolvers for x in r.aaaa.addresses)]
        return tuple(dict.fromkeys(seen))

    @property
    def os_addresses(self) -> tuple[str, ...]:
        """What the OS path returned (empty when it was not asked)."""
        return self.os.addresses if self.os is not None and self.os.looked_up else ()

    @property
    def addresses(self) -> tuple[str, ...]:
        """The DNS union, then the OS path's addresses not already in it:
        the product's apps connect to those, so they are probed too."""
        if self.literal is not None:
            return (self.literal,)
        return tuple(dict.fromkeys([*self.dns_addresses, *self.os_addresses]))


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
                timeout: float, *, hosts_file: str = HOSTS_FILE,
                nsswitch_file: str = NSSWITCH_FILE) -> DnsAnswer:
    """Ask every resolver (``()`` = the system's) for A and AAAA of ``host``,
    and the OS resolver path when /etc/hosts has an entry for it.

    Every query is bounded by ``timeout`` seconds and all run concurrently,
    so the whole call takes about ``timeout`` at worst. An IP address as
    ``host`` is its own answer and sends nothing. ``hosts_file`` and
    ``nsswitch_file`` are for tests: with any other files than the system's
    the OS path is reported but never asked (``getaddrinfo`` reads the real
    ones, and would go on to DNS for a name only the others list).
    """
    literal = _ip_literal(host)
    if literal is not None:
        return DnsAnswer(host=host, timeout=timeout, literal=literal)
    asked = [_ask_resolver(host, (h, p), timeout) for h, p in resolvers]
    if not asked:
        asked = [_ask_resolver(host, None, timeout)]
    answers, os_answer = await asyncio.gather(
        asyncio.gather(*asked), os_lookup(host, timeout, hosts_file=hosts_file,
                                          nsswitch_file=nsswitch_file))
    return DnsAnswer(host=host, timeout=timeout, resolvers=tuple(answers), os=os_answer)


# -- the OS resolver path ------------------------------------------------------

_hosts_cache: dict[str, tuple[tuple[int, int, int], dict[str, tuple[str, ...]]]] = {}


def parse_hosts(text: str) -> dict[str, tuple[str, ...]]:
    """An /etc/hosts text as name (lower case, no trailing dot) -> addresses,
    in file order, as glibc's files backend reads it (every matching line)."""
    table: dict[str, list[str]] = {}
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) < 2:
            continue
        try:
            address = _normalise(fields[0].split("%", 1)[0])
        except ValueError:
            continue
        for name in fields[1:]:
            key = name.rstrip(".").lower()
            if address not in table.setdefault(key, []):
                table[key].append(address)
    return {k: tuple(v) for k, v in table.items()}


def read_hosts(path: str = HOSTS_FILE) -> dict[str, tuple[str, ...]]:
    """The hosts file at ``path``, parsed once per version of the file (every
    DNS phase reads it); a missing or unreadable file is empty."""
    try:
        st = os.stat(path)
        key = (st.st_mtime_ns, st.st_size, st.st_ino)
        cached = _hosts_cache.get(path)
        if cached is not None and cached[0] == key:
            return cached[1]
        with open(path, encoding="utf-8", errors="replace") as fh:
            table = parse_hosts(fh.read())
    except OSError:
        return {}
    _hosts_cache[path] = (key, table)
    return table


def hosts_entries(host: str, path: str = HOSTS_FILE) -> tuple[str, ...]:
    """The addresses ``path`` maps ``host`` to (``()`` for none)."""
    return read_hosts(path).get(host.strip().rstrip(".").lower(), ())


def nsswitch_hosts(path: str = NSSWITCH_FILE) -> tuple[str, ...] | None:
    """The sources of nsswitch.conf's ``hosts:`` line, in order (actions in
    brackets dropped); ``None`` when there is no file or no such line."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError:
        return None
    for line in text.splitlines():
        database, sep, rest = line.split("#", 1)[0].partition(":")
        if sep and database.strip() == "hosts":
            words = []
            depth = 0
            for word in rest.replace("[", " [ ").replace("]", " ] ").split():
                if word == "[":
                    depth += 1
                elif word == "]":
                    depth = max(0, depth - 1)
                elif depth == 0:
                    words.append(word.lower())
            return tuple(words)
    return None


def files_answer_locally(sources: tuple[str, ...] | None) -> tuple[bool, str]:
    """Whether a name in /etc/hosts is answered by getaddrinfo without a
    packet: ``files`` comes before every source that may ask the network.
    Returns the verdict and, when it is no, why."""
    if sources is None:
        # glibc's built-in default for hosts is "dns [!UNAVAIL=return] files".
        return False, "no hosts line in nsswitch.conf: glibc then asks DNS before the file"
    for source in sources:
        if source == "files":
            return True, ""
        if source not in _LOCAL_NSS_SOURCES:
            return False, (f"nsswitch.conf asks {source} before files, so the entry is "
                           "used only when that fails; the OS path was not queried "
                           "(it would send a query)")
    return False, "nsswitch.conf does not consult files: the entry is not used"


async def os_lookup(host: str, timeout: float, *, hosts_file: str = HOSTS_FILE,
                    nsswitch_file: str = NSSWITCH_FILE) -> OsAnswer | None:
    """The OS path for ``host`` when /etc/hosts has an entry for it, else None.

    ``getaddrinfo`` is called only when nsswitch answers from the file
    before any network source (:func:`files_answer_locally`): this must
    never send a DNS query of its own.
    """
    entries = hosts_entries(host, hosts_file)
    if not entries:
        return None
    sources = nsswitch_hosts(nsswitch_file)
    local, reason = files_answer_locally(sources)
    if local and (hosts_file, nsswitch_file) != (HOSTS_FILE, NSSWITCH_FILE):
        # getaddrinfo reads the real files, not these: for a name only these
        # list, it would go on to DNS. Never ask it about other files.
        local, reason = False, "the files read are not the system's, so getaddrinfo was not asked"
    if not local:
        return OsAnswer(hosts_entries=entries, nsswitch=sources or (), looked_up=False,
                        reason=reason)
    try:
        async with asyncio.timeout(timeout):
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, None, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError) as exc:  # socket.gaierror is an OSError
        return OsAnswer(hosts_entries=entries, nsswitch=sources or (), looked_up=True,
                        error=str(exc) or type(exc).__name__)
    found = {_normalise(str(info[4][0]).split("%", 1)[0]) for info in infos}
    ordered = tuple(sorted(found, key=lambda a: (ipaddress.ip_address(a).version,
                                                  ipaddress.ip_address(a))))
    return OsAnswer(hosts_entries=entries, nsswitch=sources or (), looked_up=True,
                    addresses=ordered)


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

    * No address from any resolver nor the OS path: the code is the outcome
      of the *A* query at the first resolver (in the order given); every
      published address is ``missing``.
    * Otherwise, in this order: ``dns.hosts_override`` (warn) when the OS
      path returned other addresses than DNS (the apps use the OS path);
      ``dns.unexpected_ip`` (warn) when any answer is not published (never
      with ``expected_ips`` empty: a CDN host, any address will do);
      ``dns.resolver_mismatch`` (warn) when resolvers gave definite but
      different answers; ``dns.missing_expected`` (pass, an info finding)
      when some published address was in no answer; else ``dns.ok``.
      ``missing`` is filled in every case, ``unexpected`` whenever there is
      one, and the conditions that held beside the chosen code are listed
      in ``data["also"]``.

    A failed query beside a good one (AAAA failing beside a good A, or one
    resolver failing beside another) does not change the code; it is listed
    in ``data["notes"]`` and kept in ``data["resolvers"]``.
    """
    expected = tuple(dict.fromkeys(_normalise(x) for x in expected_ips))
    addresses = answer.addresses
    unexpected = tuple(a for a in addresses if a not in expected) if expected else ()
    missing = tuple(e for e in expected if e not in addresses)
    override = _overridden(answer)
    disagreeing = disagreement(answer.resolvers)

    decisive: tuple[ResolverAnswer, RecordAnswer] | None = None
    held = [code for code, holds in (("dns.hosts_override", override),
                                     ("dns.unexpected_ip", bool(unexpected)),
                                     ("dns.resolver_mismatch", bool(disagreeing)))
            if holds]
    if not addresses and answer.resolvers:
        decisive = (answer.resolvers[0], answer.resolvers[0].a)
        code = decisive[1].code
        detail = _failure_detail(answer, decisive)
        resolver = decisive[0].who
        held = []
    elif override:
        code = "dns.hosts_override"
        detail = _override_detail(answer, unexpected)
        resolver = ", ".join(r.who for r in answer.resolvers)
    elif unexpected:
        code = "dns.unexpected_ip"
        detail, resolver = _unexpected_detail(answer, unexpected, expected)
    elif disagreeing:
        code = "dns.resolver_mismatch"
        detail = _mismatch_detail(answer, disagreeing)
        resolver = ", ".join(r.who for r in disagreeing)
    else:
        code = "dns.missing_expected" if missing else "dns.ok"
        detail = _answered_detail(answer, addresses, expected, missing)
        resolver = ", ".join(r.who for r in answer.resolvers if _addresses_of(r))

    notes = _notes(answer, decisive)
    if disagreeing and code != "dns.resolver_mismatch":
        notes.append(_mismatch_detail(answer, disagreeing))
    if answer.os is not None and code != "dns.hosts_override":
        notes.append(_os_note(answer))
    data: dict[str, Any] = {
        "resolvers": [r.to_dict() for r in answer.resolvers],
        "resolver": resolver,
        "cname": list(_first_chain(answer)),
        "ttl": _min_ttl(answer),
        "notes": notes,
        "timeout": answer.timeout,
        "literal": answer.literal is not None,
        "os": answer.os.to_dict() if answer.os is not None else None,
        "also": [c for c in held if c != code],
    }
    return DnsResult(
        status=codes.status_of(code), code=code, detail=detail, data=data,
        addresses=addresses, expected_ips=expected, unexpected=unexpected, missing=missing,
    )


def _overridden(answer: DnsAnswer) -> bool:
    """The OS path answered, and not with what DNS answered."""
    if answer.os is None or not answer.os.looked_up or not answer.os.addresses:
        return False
    return set(answer.os.addresses) != set(answer.dns_addresses)


def disagreement(resolvers: tuple[ResolverAnswer, ...]) -> tuple[ResolverAnswer, ...]:
    """The resolvers that gave definite, conflicting answers, in order; ``()``
    when they agree.

    Conflicting means one resolver says the name does not exist (NXDOMAIN)
    or has no A record while another returns addresses, or two return
    addresses of one type with none in common. Overlapping sets agree: a
    resolver handing out a rotating subset of a pool (a CDN) is not split
    DNS. A timeout or SERVFAIL is no opinion about the name, and AAAA NODATA
    beside AAAA addresses is a resolver filtering AAAA (common, harmless on
    IPv4 networks): neither is a disagreement, both stay in the notes.
    """
    conflicting: list[ResolverAnswer] = []
    for i, r in enumerate(resolvers):
        for other in resolvers[i + 1:]:
            if _conflict(r, other):
                conflicting += [x for x in (r, other) if x not in conflicting]
    return tuple(r for r in resolvers if r in conflicting)


def _conflict(x: ResolverAnswer, y: ResolverAnswer) -> bool:
    for first, second in ((x, y), (y, x)):
        if _addresses_of(second) and first.a.code in ("dns.nxdomain", "dns.no_answer") \
                and (first.a.code == "dns.nxdomain" or second.a.addresses):
            return True
    return any(p.addresses and q.addresses and not set(p.addresses) & set(q.addresses)
               for p, q in ((x.a, y.a), (x.aaaa, y.aaaa)))


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


def _said(host: str, r: ResolverAnswer, timeout: float) -> str:
    """What one resolver said, addresses or the failure, as a phrase."""
    found = _addresses_of(r)
    if found:
        return f"{r.who} answered {_listing(found)}"
    return _failure_phrase(host, r, r.a, timeout)


def _mismatch_detail(answer: DnsAnswer, disagreeing: tuple[ResolverAnswer, ...]) -> str:
    said = "; ".join(_said(answer.host, r, answer.timeout) for r in disagreeing)
    return f"the resolvers disagree on {answer.host}: {said}"


def _dns_said(answer: DnsAnswer) -> str:
    return "; ".join(_said(answer.host, r, answer.timeout) for r in answer.resolvers) \
        or "DNS was not asked"


def _override_detail(answer: DnsAnswer, unexpected: tuple[str, ...]) -> str:
    assert answer.os is not None
    os_addresses = answer.os.addresses
    bad = [a for a in os_addresses if a in unexpected]
    unpublished = ""
    if bad:
        verb = "is" if len(bad) == 1 else "are"
        unpublished = f" ({_listing(bad)} {verb} not in the published list)"
    return (f"{OS_SOURCE} maps {answer.host} to {_listing(os_addresses)}{unpublished}, "
            f"and the OS resolver path (getaddrinfo, which the product's apps use) "
            f"returns it; DNS differs: {_dns_said(answer)}")


def _os_note(answer: DnsAnswer) -> str:
    os_answer = answer.os
    assert os_answer is not None
    mapped = f"{OS_SOURCE} maps {answer.host} to {_listing(os_answer.hosts_entries)}"
    if not os_answer.looked_up:
        return f"{mapped}, but {os_answer.reason}"
    if os_answer.error:
        return f"{mapped}, but getaddrinfo failed: {os_answer.error}"
    return f"{mapped}; the OS resolver path agrees with DNS"


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
    "HOSTS_FILE",
    "NSSWITCH_FILE",
    "OS_SOURCE",
    "RECORD_TYPES",
    "SYSTEM",
    "DnsAnswer",
    "OsAnswer",
    "RecordAnswer",
    "ResolverAnswer",
    "compare",
    "disagreement",
    "files_answer_locally",
    "format_resolver",
    "hosts_entries",
    "nsswitch_hosts",
    "os_lookup",
    "parse_hosts",
    "query",
    "read_hosts",
    "resolve",
    "system_resolvers",
]
