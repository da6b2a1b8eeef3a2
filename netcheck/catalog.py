"""The endpoint catalogue: models, YAML loading, validation errors with places.

``load_catalog()`` reads the built-in ``endpoints.yaml`` (or ``--catalog PATH``),
``parse_catalog()`` validates text, ``select()`` applies ``--only``/``--tag``.
Every problem in a catalogue is reported at once, each prefixed with its place
(DESIGN.md, "The catalogue")::

    endpoints[3].port: 70000 is not a port (1-65535)
    endpoints[5].name: duplicate name 'x' (first at endpoints[2])
    line 4, column 7: mapping values are not allowed here

Places are ``file``, ``top level``, ``line L, column C`` (YAML syntax), or the
path of a value (``version``, ``defaults.timeout``, ``endpoints[0].tls.min_version``).
Unknown keys are errors: a typo must not silently disable a check.

``netcheck validate`` must start fast, so this module imports only the standard
library at import time; ``yaml``, ``ipaddress``, ``re``, ``hashlib`` and
``difflib`` are imported where they are needed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from netcheck.files import NotARegularFile, read_regular

if TYPE_CHECKING:
    import yaml

ProbeKind = Literal["wss", "https", "tls", "tcp"]


@dataclass(frozen=True, slots=True)
class TlsPolicy:
    min_version: str = "1.2"  # "1.0" | "1.1" | "1.2" | "1.3"
    expected_issuers: tuple[str, ...] = ()  # substrings of the issuer DN; empty = any
    # HPKP-style pins (RFC 7469 pin-sha256): base64 of the SHA-256 of a
    # certificate's DER SubjectPublicKeyInfo. The chain passes when any
    # presented certificate's key matches one pin; empty = no pinning.
    pin_sha256: tuple[str, ...] = ()


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


BUILTIN_SOURCE = "endpoints.yaml (built-in)"

# Limits that keep a hostile or broken file from costing more than a moment:
# the real catalogue is a few kilobytes with a handful of items per list, and
# YAML aliases can make a small file describe a very large document.
MAX_BYTES = 1024 * 1024
MAX_ENDPOINTS = 2000
MAX_ITEMS = 256  # per list (expected_ips, tags, expect_status, expected_issuers)
MAX_PROBLEMS = 100  # reported; the rest are counted in one last line

PROBES: tuple[ProbeKind, ...] = ("wss", "https", "tls", "tcp")
TLS_VERSIONS = ("1.0", "1.1", "1.2", "1.3")

_TOP_KEYS = ("version", "defaults", "endpoints")
_DEFAULT_KEYS = ("timeout", "required")
_ENDPOINT_KEYS = ("name", "host", "port", "probe", "path", "expected_ips", "tags",
                  "purpose", "required", "timeout", "expect_status", "tls")
_REQUIRED_KEYS = ("name", "host", "port", "probe")
_TLS_KEYS = ("min_version", "expected_issuers", "pin_sha256")

_NAME_RE = r"[a-z0-9._-]+"
_NAME_RULE = "use only a-z, 0-9, '.', '_' and '-'"
# RFC 1123 labels; a name whose last label is all digits is a mistyped IPv4
# address (RFC 3696 section 2), not a host name.
_LABEL_RE = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_MAX_TIMEOUT = 300.0


# -- public API -------------------------------------------------------------


def builtin_path() -> Path:
    """The packaged ``endpoints.yaml``.

    The wheel force-includes the top-level file as ``netcheck/endpoints.yaml``;
    a source or editable checkout has it one folder up, at the repository root.
    """
    here = Path(__file__).resolve().parent
    packaged = here / "endpoints.yaml"
    if packaged.is_file():
        return packaged
    return here.parent / "endpoints.yaml"


def load_catalog(path: Path | None = None) -> Catalog:
    """Read and validate a catalogue file; ``None`` is the built-in one.

    Raises :class:`CatalogError` with every problem found (also when the file
    cannot be read); never any other exception for any file content.
    """
    file = builtin_path() if path is None else path
    source = BUILTIN_SOURCE if path is None else str(path)
    try:
        data = read_regular(file, MAX_BYTES)  # bounded: a huge file costs nothing
    except NotARegularFile as exc:
        raise CatalogError(source, [f"file: {exc}"]) from exc
    except OSError as exc:
        raise CatalogError(source, [f"file: cannot read {file} ({exc.strerror or exc})"]) from exc
    if len(data) > MAX_BYTES:
        raise CatalogError(source, [_too_big()])
    try:
        text = data.decode("utf-8-sig")  # a BOM, as some Windows editors write, is fine
    except UnicodeDecodeError as exc:
        raise CatalogError(source, [
            f"file: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})",
        ]) from exc
    return _parse(text, source, _sha256(data))


def parse_catalog(text: str, source: str) -> Catalog:
    """Validate a catalogue's text; ``sha256`` is of its UTF-8 encoding."""
    data = text.encode("utf-8", "surrogatepass")
    if len(data) > MAX_BYTES:
        raise CatalogError(source, [_too_big()])
    return _parse(text, source, _sha256(data))


def select(catalog: Catalog, only: Sequence[str], tags: Sequence[str]) -> Catalog:
    """The endpoints ``--only`` and ``--tag`` ask for, in catalogue order.

    Each item may itself be a comma-separated list (``--only a,b --only c``);
    it is split here, so the CLI passes the option values as given. ``only``
    keeps the endpoints with exactly those names; ``tags`` keeps those having
    ANY of the tags; given both, an endpoint must pass both filters. Empty
    sequences do not filter. Unknown names or tags raise :class:`CatalogError`
    naming the known ones.
    """
    names = _split(only)
    wanted_tags = _split(tags)
    problems: list[str] = []
    if only and not names:
        problems.append("--only: no endpoint name given")
    if tags and not wanted_tags:
        problems.append("--tag: no tag given")
    known_names = [e.name for e in catalog.endpoints]
    problems += _unknown("--only", "endpoint", names, known_names)
    problems += _unknown("--tag", "tag", wanted_tags, known_tags(catalog))
    if problems:
        raise CatalogError(catalog.source, problems)
    chosen = tuple(
        e for e in catalog.endpoints
        if (not names or e.name in names)
        and (not wanted_tags or any(t in e.tags for t in wanted_tags))
    )
    if not chosen:
        raise CatalogError(catalog.source, [
            f"--only/--tag: no endpoint is both named {', '.join(names)} "
            f"and tagged {', '.join(wanted_tags)}",
        ])
    return Catalog(catalog.source, catalog.sha256, chosen)


def known_tags(catalog: Catalog) -> list[str]:
    """Every tag used in the catalogue, in order of first use."""
    return list(dict.fromkeys(t for e in catalog.endpoints for t in e.tags))


def describe(endpoint: Endpoint) -> dict[str, str]:
    """One endpoint as display strings, for ``netcheck list``."""
    return {
        "name": endpoint.name,
        "host": endpoint.host,
        "port": str(endpoint.port),
        "probe": endpoint.probe,
        "path": endpoint.path if endpoint.probe in ("wss", "https") else "",
        "expected_ips": ", ".join(endpoint.expected_ips) or "any",
        "tags": ", ".join(endpoint.tags),
        "required": "yes" if endpoint.required else "no",
        "purpose": endpoint.purpose,
    }


# -- loading ----------------------------------------------------------------


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def _too_big() -> str:
    return f"file: larger than 1 MiB ({MAX_BYTES} bytes); a catalogue is a few kilobytes"


def _parse(text: str, source: str, sha256: str) -> Catalog:
    problems: list[str] = []
    read, doc = _load_yaml(text, problems)
    endpoints = _catalog(doc, problems) if read else ()
    if problems:
        raise CatalogError(source, _capped(problems))
    return Catalog(source, sha256, endpoints)


def _capped(problems: list[str]) -> list[str]:
    if len(problems) <= MAX_PROBLEMS:
        return problems
    return [*problems[:MAX_PROBLEMS], f"... and {len(problems) - MAX_PROBLEMS} more problems"]


def _load_yaml(text: str, problems: list[str]) -> tuple[bool, Any]:
    """``yaml.safe_load`` that turns every failure into a problem with a place.

    Returns whether the document could be read, and the document. PyYAML
    keeps the last of two equal keys in a mapping; a duplicated key is almost
    always a copy-paste mistake, so the node tree is checked for them before
    it is turned into Python objects (and the document is still validated).
    """
    import yaml

    loader = _loader_class()(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return True, None
        problems += _duplicate_keys(node)
        return True, loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        problems.append(_yaml_problem(exc))
    except yaml.reader.ReaderError as exc:
        line, column = _line_column(text, exc.position)
        problems.append(f"line {line}, column {column}: {exc.reason}")
    except yaml.YAMLError as exc:
        problems.append(f"file: not valid YAML ({exc})")
    except RecursionError:
        problems.append("file: nested too deeply to be a catalogue")
    finally:
        loader.dispose()
    return False, None


@functools.cache
def _loader_class() -> type[Any]:
    """``yaml.CSafeLoader`` (libyaml, fast) or ``SafeLoader``, whose scalar
    constructors report a value they cannot read at its place.

    PyYAML lets ``ValueError`` escape, with no mark, from a date like
    2026-13-45 or an integer past Python's 4300-digit conversion limit.
    """
    import yaml

    base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(base):  # type: ignore[misc]
        pass

    def guarded(construct: Any) -> Any:
        def run(loader: Any, node: yaml.ScalarNode) -> Any:
            try:
                return construct(loader, node)
            except ValueError as exc:
                raise yaml.constructor.ConstructorError(
                    None, None, f"{_show(node.value)} cannot be read ({exc})",
                    node.start_mark) from exc
        return run

    for kind in ("int", "float", "timestamp"):
        tag = f"tag:yaml.org,2002:{kind}"
        Loader.add_constructor(tag, guarded(base.yaml_constructors[tag]))
    return cast(type[Any], Loader)


def _yaml_problem(exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "file"
    problem = exc.problem or exc.context or "not valid YAML"
    if exc.context and exc.problem and exc.context_mark is not None:
        cm = exc.context_mark
        problem += f" ({exc.context} at line {cm.line + 1}, column {cm.column + 1})"
    return f"{where}: {problem}"


def _line_column(text: str, position: int) -> tuple[int, int]:
    before = text[:position]
    return before.count("\n") + 1, position - (before.rfind("\n") + 1) + 1


def _duplicate_keys(root: yaml.Node) -> list[str]:
    import yaml

    found: list[tuple[int, int, str]] = []  # (line, column, message), sorted into file order
    seen_nodes: set[int] = set()  # aliases share nodes: visit each once
    stack: list[yaml.Node] = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[tuple[str, str], yaml.Node] = {}
            for key, value in node.value:
                stack += (key, value)
                if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
                    continue
                ident = (key.tag, key.value)
                if ident in first:
                    m, f = key.start_mark, first[ident].start_mark
                    found.append((m.line + 1, m.column + 1, (
                        f"duplicate key {_show(key.value)} "
                        f"(first at line {f.line + 1}, column {f.column + 1})")))
                else:
                    first[ident] = key
        elif isinstance(node, yaml.SequenceNode):
            stack += node.value
    return [f"line {line}, column {column}: {text}" for line, column, text in sorted(found)]


# -- validation ---------------------------------------------------------------


class _Bad:
    """A value that failed validation (its problem is already recorded)."""


_BAD = _Bad()


def _catalog(doc: Any, problems: list[str]) -> tuple[Endpoint, ...]:
    if doc is None:
        problems.append("top level: the file is empty "
                        "(expected a mapping with 'version' and 'endpoints')")
        return ()
    if not isinstance(doc, dict):
        problems.append("top level: expected a mapping with 'version' and 'endpoints', "
                        f"got {_kind(doc)}")
        return ()
    top = _keys(doc, "top level", _TOP_KEYS, ("version", "endpoints"), problems)
    if "version" in top and not (type(top["version"]) is int and top["version"] == 1):
        problems.append(f"version: {_show(top['version'])} is not supported (expected 1)")
    defaults = _defaults(top["defaults"], problems) if "defaults" in top else {}
    if "endpoints" not in top:
        return ()
    raw = top["endpoints"]
    if not isinstance(raw, list):
        problems.append(f"endpoints: expected a list, got {_kind(raw)}")
        return ()
    if not raw:
        problems.append("endpoints: the list is empty (a catalogue needs at least one endpoint)")
        return ()
    if len(raw) > MAX_ENDPOINTS:
        problems.append(f"endpoints: {len(raw)} entries is too many (at most {MAX_ENDPOINTS})")
        return ()
    endpoints: list[Endpoint] = []
    first_at: dict[str, int] = {}
    for i, item in enumerate(raw):
        place = f"endpoints[{i}]"
        endpoint = _endpoint(item, place, defaults, problems)
        name = item.get("name") if isinstance(item, dict) else None
        if isinstance(name, str):
            if name in first_at:
                problems.append(f"{place}.name: duplicate name {_show(name)} "
                                f"(first at endpoints[{first_at[name]}])")
            else:
                first_at[name] = i
        if endpoint is not None:
            endpoints.append(endpoint)
    return tuple(endpoints)


def _defaults(raw: Any, problems: list[str]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        problems.append(f"defaults: expected a mapping, got {_kind(raw)}")
        return {}
    given = _keys(raw, "defaults", _DEFAULT_KEYS, (), problems)
    out: dict[str, Any] = {}
    if "timeout" in given:
        out["timeout"] = _timeout(given["timeout"], "defaults.timeout", problems)
    if "required" in given:
        out["required"] = _bool(given["required"], "defaults.required", problems)
    return {k: v for k, v in out.items() if v is not _BAD}


def _endpoint(raw: Any, place: str, defaults: Mapping[str, Any],
              problems: list[str]) -> Endpoint | None:
    if not isinstance(raw, dict):
        problems.append(f"{place}: expected a mapping, got {_kind(raw)}")
        return None
    before = len(problems)
    given = _keys(raw, place, _ENDPOINT_KEYS, _REQUIRED_KEYS, problems)
    at = place + "."
    fields: dict[str, Any] = {}
    for key, check in _FIELD_CHECKS.items():
        if key in given:
            fields[key] = check(given[key], at + key, problems)
    if "tls" in given:
        fields["tls"] = _tls(given["tls"], at + "tls", problems)
    probe = fields.get("probe")
    if probe in PROBES:
        _probe_rules(cast(ProbeKind, probe), given, at, problems)
    for key, value in defaults.items():
        fields.setdefault(key, value)
    if len(problems) > before or _BAD in fields.values():
        return None
    return Endpoint(**fields)


def _probe_rules(probe: ProbeKind, given: Mapping[str, Any], at: str,
                 problems: list[str]) -> None:
    """The keys that only some probes take."""
    if probe in ("tls", "tcp"):
        for key in ("path", "expect_status"):
            if key in given:
                problems.append(f"{at}{key}: only wss and https probes take {key} "
                                f"(probe is {probe})")
    if probe == "tcp" and "tls" in given:
        problems.append(f"{at}tls: only wss, https and tls probes use TLS (probe is tcp)")


def _keys(raw: dict[Any, Any], place: str, allowed: Sequence[str],
          required: Sequence[str], problems: list[str]) -> dict[str, Any]:
    """The string keys of ``raw``, after reporting unknown, odd and missing ones."""
    import difflib

    out: dict[str, Any] = {}
    for key, value in raw.items():
        if not isinstance(key, str):
            # YAML 1.1 reads unquoted on/off/yes/no as booleans, 1 as an integer.
            problems.append(f"{place}: key {_show(key)} is not a string (quote it)")
        elif key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"; did you mean {_show(close[0])}?" if close else ""
            problems.append(f"{place}: unknown key {_show(key)}{hint} "
                            f"(allowed: {', '.join(allowed)})")
        else:
            out[key] = value
    for key in required:
        if key not in raw:
            problems.append(f"{place}: missing required key {_show(key)}")
    return out


def _name(value: Any, place: str, problems: list[str]) -> str | _Bad:
    import re

    if not isinstance(value, str):
        return _type(value, "a string", place, problems)
    if not re.fullmatch(_NAME_RE, value):
        problems.append(f"{place}: {_show(value)} is not a valid name ({_NAME_RULE})")
        return _BAD
    return value


def _host(value: Any, place: str, problems: list[str]) -> str | _Bad:
    import ipaddress
    import re

    if not isinstance(value, str):
        return _type(value, "a string", place, problems)
    try:
        return ipaddress.ip_address(value).compressed
    except ValueError:
        pass
    host = value.lower()  # DNS names and certificate names compare case-insensitively
    labels = host.split(".")
    if (len(host) > 253 or not all(re.fullmatch(_LABEL_RE, label) for label in labels)
            or labels[-1].isdigit()):
        problems.append(f"{place}: {_show(value)} is not a DNS name or an IP address")
        return _BAD
    return host


def _port(value: Any, place: str, problems: list[str]) -> int | _Bad:
    if type(value) is not int:  # bool is an int subclass: true is not port 1
        return _type(value, "an integer", place, problems)
    if not 1 <= value <= 65535:
        problems.append(f"{place}: {_show(value)} is not a port (1-65535)")
        return _BAD
    return value


def _probe(value: Any, place: str, problems: list[str]) -> str | _Bad:
    import difflib

    if not isinstance(value, str):
        return _type(value, "a string", place, problems)
    if value not in PROBES:
        close = difflib.get_close_matches(value, PROBES, n=1)
        hint = f"did you mean {_show(close[0])}? " if close else ""
        problems.append(f"{place}: {_show(value)} is not a probe "
                        f"({hint}one of {', '.join(PROBES)})")
        return _BAD
    return value


def _path(value: Any, place: str, problems: list[str]) -> str | _Bad:
    if not isinstance(value, str):
        return _type(value, "a string", place, problems)
    if not value.startswith("/"):
        problems.append(f"{place}: {_show(value)} must start with '/'")
        return _BAD
    # The path goes verbatim into the request line: a space or CR/LF would
    # split it, and h11 only sends ASCII.
    if not all("!" <= ch <= "~" for ch in value):
        problems.append(f"{place}: {_show(value)} may only contain printable ASCII "
                        "without spaces (percent-encode the rest)")
        return _BAD
    return value


@functools.lru_cache(maxsize=1024)
def _normalise_ip(text: str) -> str | None:
    # Cached: YAML aliases can repeat one long list of addresses many times.
    import ipaddress

    try:
        return ipaddress.ip_address(text).compressed
    except ValueError:
        return None


_T = TypeVar("_T", bound=Hashable)


def _unique(value: Any, place: str, problems: list[str],
            check: Callable[[Any, str, list[str]], _T | _Bad], noun: str,
            shown: Callable[[_T], str]) -> tuple[_T, ...] | _Bad:
    """A list whose items each pass ``check`` (which returns the normalised item
    or reports why not) and appear once: every problem reported, with its place."""
    items = _list(value, place, problems)
    if isinstance(items, _Bad):
        return items
    first_at: dict[_T, int] = {}
    bad = False
    for i, raw in enumerate(items):
        at = f"{place}[{i}]"
        item = check(raw, at, problems)
        if isinstance(item, _Bad):
            bad = True
        elif item in first_at:
            problems.append(f"{at}: duplicate {noun} {shown(item)} "
                            f"(first at {_last(place)}[{first_at[item]}])")
            bad = True
        else:
            first_at[item] = i
    return _BAD if bad else tuple(first_at)


def _ip_item(item: Any, at: str, problems: list[str]) -> str | _Bad:
    if not isinstance(item, str):
        return _type(item, "an IP address as a string", at, problems)
    ip = _normalise_ip(item)
    if ip is None:
        problems.append(f"{at}: {_show(item)} is not an IP address")
        return _BAD
    return ip


def _tag_item(item: Any, at: str, problems: list[str]) -> str | _Bad:
    import re

    if not isinstance(item, str):
        return _type(item, "a string", at, problems)
    if not re.fullmatch(_NAME_RE, item):
        problems.append(f"{at}: {_show(item)} is not a valid tag ({_NAME_RULE})")
        return _BAD
    return item


def _status_item(item: Any, at: str, problems: list[str]) -> int | _Bad:
    if type(item) is not int:
        return _type(item, "an integer", at, problems)
    if not 100 <= item <= 599:
        problems.append(f"{at}: {_show(item)} is not an HTTP status (100-599)")
        return _BAD
    return item


def _ips(value: Any, place: str, problems: list[str]) -> tuple[str, ...] | _Bad:
    return _unique(value, place, problems, _ip_item, "address", str)


def _tags(value: Any, place: str, problems: list[str]) -> tuple[str, ...] | _Bad:
    return _unique(value, place, problems, _tag_item, "tag", _show)


def _purpose(value: Any, place: str, problems: list[str]) -> str | _Bad:
    if not isinstance(value, str):
        return _type(value, "a string", place, problems)
    return value.strip()


def _bool(value: Any, place: str, problems: list[str]) -> bool | _Bad:
    if not isinstance(value, bool):
        return _type(value, "true or false", place, problems)
    return value


def _timeout(value: Any, place: str, problems: list[str]) -> float | _Bad:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _type(value, "a number of seconds", place, problems)
    if not 0 < value <= _MAX_TIMEOUT:  # also false for NaN
        problems.append(f"{place}: {_show(value)} is not a timeout "
                        "(seconds, more than 0 and at most 300)")
        return _BAD
    return float(value)


def _statuses(value: Any, place: str, problems: list[str]) -> tuple[int, ...] | _Bad:
    if isinstance(value, list) and not value:
        problems.append(f"{place}: the list is empty (leave expect_status out "
                        "for the probe's default)")
        return _BAD
    return _unique(value, place, problems, _status_item, "status", str)


def _tls(value: Any, place: str, problems: list[str]) -> TlsPolicy | _Bad:
    if not isinstance(value, dict):
        return _type(value, "a mapping", place, problems)
    given = _keys(value, place, _TLS_KEYS, (), problems)
    fields: dict[str, Any] = {}
    if "min_version" in given:
        fields["min_version"] = _tls_version(given["min_version"], place + ".min_version",
                                             problems)
    if "expected_issuers" in given:
        fields["expected_issuers"] = _issuers(given["expected_issuers"],
                                              place + ".expected_issuers", problems)
    if "pin_sha256" in given:
        fields["pin_sha256"] = _pins(given["pin_sha256"], place + ".pin_sha256", problems)
    if _BAD in fields.values():
        return _BAD
    return TlsPolicy(**fields)


def _tls_version(value: Any, place: str, problems: list[str]) -> str | _Bad:
    # An unquoted 1.2 is a YAML float; people will write it that way.
    text = f"{value:.1f}" if isinstance(value, float) and value in (1.0, 1.1, 1.2, 1.3) else value
    if not (isinstance(text, str) and text in TLS_VERSIONS):
        versions = ", ".join(_show(v) for v in TLS_VERSIONS)
        problems.append(f"{place}: {_show(value)} is not a TLS version (one of {versions})")
        return _BAD
    return text


def _issuers(value: Any, place: str, problems: list[str]) -> tuple[str, ...] | _Bad:
    items = _list(value, place, problems)
    if isinstance(items, _Bad):
        return items
    bad = False
    for i, item in enumerate(items):
        if not isinstance(item, str):
            bad = _type(item, "a string", f"{place}[{i}]", problems) is _BAD
        elif not item.strip():
            problems.append(f"{place}[{i}]: an empty issuer would match every certificate")
            bad = True
    return _BAD if bad else tuple(cast(list[str], items))


def _pins(value: Any, place: str, problems: list[str]) -> tuple[str, ...] | _Bad:
    import base64
    import binascii

    items = _list(value, place, problems)
    if isinstance(items, _Bad):
        return items
    bad = False
    for i, item in enumerate(items):
        if not isinstance(item, str):
            bad = _type(item, "a string", f"{place}[{i}]", problems) is _BAD
            continue
        try:
            raw = base64.b64decode(item, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 32:
            # The form `openssl ... | openssl dgst -sha256 -binary | base64` prints.
            problems.append(f"{place}[{i}]: {_show(item)} is not a SHA-256 pin "
                            "(base64 of 32 bytes, 44 characters ending in '=')")
            bad = True
    return _BAD if bad else tuple(cast(list[str], items))


_FIELD_CHECKS: dict[str, Any] = {
    "name": _name,
    "host": _host,
    "port": _port,
    "probe": _probe,
    "tags": _tags,
    "path": _path,
    "expected_ips": _ips,
    "purpose": _purpose,
    "required": _bool,
    "timeout": _timeout,
    "expect_status": _statuses,
}


# -- small helpers ------------------------------------------------------------


def _list(value: Any, place: str, problems: list[str]) -> list[Any] | _Bad:
    if not isinstance(value, list):
        hint = f"; write [{value}]" if isinstance(value, str | int) and not isinstance(
            value, bool) and len(str(value)) <= 60 else ""
        problems.append(f"{place}: expected a list, got {_kind(value)}{hint}")
        return _BAD
    if len(value) > MAX_ITEMS:
        problems.append(f"{place}: {len(value)} items is too many (at most {MAX_ITEMS})")
        return _BAD
    return value


def _type(value: Any, expected: str, place: str, problems: list[str]) -> _Bad:
    problems.append(f"{place}: expected {expected}, got {_kind(value)}")
    return _BAD


def _last(place: str) -> str:
    """``endpoints[0].expected_ips`` -> ``expected_ips``, for "first at" references."""
    return place.rsplit(".", 1)[-1]


def _kind(value: Any) -> str:
    """What a YAML value is, for "expected X, got Y" (with the value when short)."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({'true' if value else 'false'})"
    if isinstance(value, int):
        return f"an integer ({_show(value)})"
    if isinstance(value, float):
        return f"a number ({_show(value)})"
    if isinstance(value, str):
        return f"a string ({_show(value)})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, bytes):
        return "binary data (!!binary)"
    return f"a {type(value).__name__}"  # date, datetime, set (!!set)


def _show(value: Any) -> str:
    """A value as it appears in a message: quoted strings, short, never raising."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and value.bit_length() > 64:
        # repr() of a very long integer raises (sys.int_info.str_digits_check_threshold).
        return "a very large number"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _split(items: Iterable[str]) -> list[str]:
    return [part.strip() for item in items for part in item.split(",") if part.strip()]


def _unknown(option: str, what: str, given: Sequence[str], known: Sequence[str]) -> list[str]:
    import difflib

    problems = []
    for item in given:
        if item not in known:
            close = difflib.get_close_matches(item, known, n=1)
            hint = f"; did you mean {_show(close[0])}?" if close else ""
            problems.append(f"{option}: unknown {what} {_show(item)}{hint} "
                            f"(known: {', '.join(known)})")
    return problems
