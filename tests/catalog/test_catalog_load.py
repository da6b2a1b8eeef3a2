"""Catalogue validation: every rule has an ``invalid-<rule>.yaml`` here and the
exact messages it must produce (as blackbox_exporter's config_test.go pairs
each testdata/invalid-*.yml with its error). The messages are a user interface:
``netcheck validate`` prints them one per line, so a change here is a change
users see.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from netcheck.catalog import (
    MAX_BYTES,
    MAX_PROBLEMS,
    Catalog,
    CatalogError,
    Endpoint,
    TlsPolicy,
    load_catalog,
    parse_catalog,
)

HERE = Path(__file__).parent
ENDPOINT_KEYS = ("name, host, port, probe, path, expected_ips, tags, purpose, required, "
                 "timeout, expect_status, tls")
TIMEOUT_RULE = "(seconds, more than 0 and at most 300)"
NAME_RULE = "(use only a-z, 0-9, '.', '_' and '-')"
TLS_VERSIONS = "(one of '1.0', '1.1', '1.2', '1.3')"

INVALID: dict[str, list[str]] = {
    "empty": [
        "top level: the file is empty (expected a mapping with 'version' and 'endpoints')",
    ],
    "top-level-list": [
        "top level: expected a mapping with 'version' and 'endpoints', got a list",
    ],
    "yaml-syntax": [
        "line 5, column 5: could not find expected ':' "
        "(while scanning a simple key at line 4, column 5)",
    ],
    "yaml-tag": [
        "line 3, column 12: could not determine a constructor for the tag "
        "'tag:yaml.org,2002:python/object/apply:os.system'",
    ],
    "duplicate-key": [
        "line 8, column 5: duplicate key 'port' (first at line 6, column 5)",
    ],
    "non-string-key": [
        "endpoints[0]: key true is not a string (quote it)",
        "endpoints[0]: key 443 is not a string (quote it)",
    ],
    "bad-date": [
        "line 3, column 68: '2026-13-45' cannot be read (month must be in 1..12)",
    ],
    "date": [
        "endpoints[0].purpose: expected a string, got a date",
    ],
    "version": [
        "version: 2 is not supported (expected 1)",
    ],
    "version-missing": [
        "top level: missing required key 'version'",
    ],
    "unknown-top-key": [
        "top level: unknown key 'endpoint'; did you mean 'endpoints'? "
        "(allowed: version, defaults, endpoints)",
        "top level: missing required key 'endpoints'",
    ],
    "unknown-defaults-key": [
        "defaults: unknown key 'tags' (allowed: timeout, required)",
    ],
    "unknown-endpoint-key": [
        f"endpoints[0]: unknown key 'prot'; did you mean 'port'? (allowed: {ENDPOINT_KEYS})",
        f"endpoints[0]: unknown key 'colour' (allowed: {ENDPOINT_KEYS})",
        "endpoints[0]: missing required key 'port'",
    ],
    "unknown-tls-key": [
        "endpoints[0].tls: unknown key 'min_verison'; did you mean 'min_version'? "
        "(allowed: min_version, expected_issuers, pin_sha256)",
    ],
    "defaults": [
        f"defaults.timeout: 500 is not a timeout {TIMEOUT_RULE}",
        "defaults.required: expected true or false, got a string ('yes')",
    ],
    "defaults-not-mapping": [
        "defaults: expected a mapping, got a list",
    ],
    "endpoints-not-list": [
        "endpoints: expected a list, got a mapping",
    ],
    "endpoints-null": [
        "endpoints: expected a list, got nothing (null)",
    ],
    "endpoints-empty": [
        "endpoints: the list is empty (a catalogue needs at least one endpoint)",
    ],
    "endpoint-not-mapping": [
        "endpoints[0]: expected a mapping, got a string ('a.example.com:443')",
    ],
    "missing-keys": [
        "endpoints[0]: missing required key 'host'",
        "endpoints[0]: missing required key 'port'",
        "endpoints[0]: missing required key 'probe'",
    ],
    "name": [
        f"endpoints[0].name: 'Web Client' is not a valid name {NAME_RULE}",
        f"endpoints[1].name: '' is not a valid name {NAME_RULE}",
        "endpoints[2].name: expected a string, got an integer (7)",
    ],
    "duplicate-name": [
        "endpoints[2].name: duplicate name 'a' (first at endpoints[0])",
    ],
    "host": [
        "endpoints[0].host: 'bad_host!.example.com' is not a DNS name or an IP address",
        "endpoints[1].host: '169.63.160' is not a DNS name or an IP address",
        "endpoints[2].host: '-a.example.com' is not a DNS name or an IP address",
        "endpoints[3].host: '[::1]' is not a DNS name or an IP address",
        "endpoints[4].host: expected a string, got an integer (443)",
    ],
    "port": [
        "endpoints[0].port: 70000 is not a port (1-65535)",
        "endpoints[1].port: 0 is not a port (1-65535)",
        "endpoints[2].port: expected an integer, got a string ('443')",
        "endpoints[3].port: expected an integer, got a boolean (true)",
        "endpoints[4].port: expected an integer, got a number (443.0)",
    ],
    "probe": [
        "endpoints[0].probe: 'ws' is not a probe (did you mean 'wss'? one of wss, https, tls, tcp)",
        "endpoints[1].probe: 'icmp' is not a probe (one of wss, https, tls, tcp)",
    ],
    "path": [
        "endpoints[0].path: 'socket' must start with '/'",
        "endpoints[1].path: '/a b' may only contain printable ASCII without spaces "
        "(percent-encode the rest)",
        "endpoints[2].path: '/caf\u00e9' may only contain printable ASCII without spaces "
        "(percent-encode the rest)",
    ],
    "path-for-tcp": [
        "endpoints[0].path: only wss and https probes take path (probe is tcp)",
        "endpoints[1].path: only wss and https probes take path (probe is tls)",
    ],
    "expected-ips": [
        "endpoints[0].expected_ips[1]: '169.63.160.999' is not an IP address",
        "endpoints[0].expected_ips[3]: duplicate address 2001:db8::1 (first at expected_ips[2])",
        "endpoints[0].expected_ips[4]: expected an IP address as a string, got an integer (7)",
        "endpoints[1].expected_ips: expected a list, got a string ('169.63.160.148'); "
        "write [169.63.160.148]",
    ],
    "tags": [
        f"endpoints[0].tags[0]: 'Region UK' is not a valid tag {NAME_RULE}",
        "endpoints[0].tags[2]: duplicate tag 'https' (first at tags[1])",
        "endpoints[0].tags[3]: expected a string, got an integer (1)",
        "endpoints[1].tags: expected a list, got a string ('https'); write [https]",
    ],
    "required": [
        "endpoints[0].required: expected true or false, got a string ('false')",
        "endpoints[1].required: expected true or false, got an integer (0)",
    ],
    "timeout": [
        f"endpoints[0].timeout: 0 is not a timeout {TIMEOUT_RULE}",
        f"endpoints[1].timeout: 301 is not a timeout {TIMEOUT_RULE}",
        "endpoints[2].timeout: expected a number of seconds, got a string ('5')",
        f"endpoints[3].timeout: -1.5 is not a timeout {TIMEOUT_RULE}",
        f"endpoints[4].timeout: nan is not a timeout {TIMEOUT_RULE}",
    ],
    "expect-status": [
        "endpoints[0].expect_status[0]: 99 is not an HTTP status (100-599)",
        "endpoints[0].expect_status[2]: 600 is not an HTTP status (100-599)",
        "endpoints[0].expect_status[3]: expected an integer, got a boolean (true)",
        "endpoints[0].expect_status[4]: expected an integer, got a string ('404')",
        "endpoints[0].expect_status[5]: duplicate status 200 (first at expect_status[1])",
        "endpoints[1].expect_status: the list is empty "
        "(leave expect_status out for the probe's default)",
        "endpoints[2].expect_status: expected a list, got an integer (101); write [101]",
    ],
    "expect-status-for-tls": [
        "endpoints[0].expect_status: only wss and https probes take expect_status "
        "(probe is tls)",
        "endpoints[1].expect_status: only wss and https probes take expect_status "
        "(probe is tcp)",
    ],
    "tls-min-version": [
        f"endpoints[0].tls.min_version: 1.4 is not a TLS version {TLS_VERSIONS}",
        f"endpoints[1].tls.min_version: 'TLSv1.2' is not a TLS version {TLS_VERSIONS}",
        f"endpoints[2].tls.min_version: 1 is not a TLS version {TLS_VERSIONS}",
    ],
    "tls-expected-issuers": [
        "endpoints[0].tls.expected_issuers: expected a list, got a string ('DigiCert'); "
        "write [DigiCert]",
        "endpoints[1].tls.expected_issuers[0]: an empty issuer would match every certificate",
        "endpoints[1].tls.expected_issuers[1]: expected a string, got an integer (5)",
    ],
    "tls-pin-sha256": [
        "endpoints[0].tls.pin_sha256: expected a list, got a string "
        "('47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='); "
        "write [47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=]",
        "endpoints[1].tls.pin_sha256[1]: 'e3b0c44298fc1c149afbf4c8996fb924' "
        "is not a SHA-256 pin (base64 of 32 bytes, 44 characters ending in '=')",
        "endpoints[1].tls.pin_sha256[2]: '47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hS' "
        "is not a SHA-256 pin (base64 of 32 bytes, 44 characters ending in '=')",
        "endpoints[1].tls.pin_sha256[3]: expected a string, got an integer (7)",
    ],
    "tls-for-tcp": [
        "endpoints[0].tls: only wss, https and tls probes use TLS (probe is tcp)",
        "endpoints[1].tls: expected a mapping, got a string ('1.2')",
    ],
    "many-problems": [
        "version: 3 is not supported (expected 1)",
        f"defaults.timeout: 0 is not a timeout {TIMEOUT_RULE}",
        f"endpoints[1].name: 'Bad' is not a valid name {NAME_RULE}",
        "endpoints[1].port: 70000 is not a port (1-65535)",
        "endpoints[1].expected_ips[0]: '10.0.0.300' is not an IP address",
        "endpoints[2]: missing required key 'port'",
        "endpoints[2].path: only wss and https probes take path (probe is tcp)",
        "endpoints[2].name: duplicate name 'ok' (first at endpoints[0])",
    ],
}


def test_every_invalid_file_has_its_messages() -> None:
    # Given the invalid-*.yaml files in this folder
    on_disk = {p.name.removeprefix("invalid-").removesuffix(".yaml")
               for p in HERE.glob("invalid-*.yaml")}
    # Then each is in the table, and each table entry has its file
    assert on_disk == set(INVALID)


@pytest.mark.parametrize("rule", sorted(INVALID))
def test_invalid_catalogue_reports_exact_messages(rule: str) -> None:
    # Given a catalogue that breaks one rule
    path = HERE / f"invalid-{rule}.yaml"
    # When it is loaded
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    # Then every problem is reported, each with its place, in file order
    assert caught.value.problems == INVALID[rule]
    assert caught.value.source == str(path)


def test_several_problems_are_all_reported_at_once() -> None:
    # Given one file with problems at the top, in defaults and in three endpoints
    # When it is loaded
    with pytest.raises(CatalogError) as caught:
        load_catalog(HERE / "invalid-many-problems.yaml")
    # Then one error carries all of them, and str() names the file
    assert len(caught.value.problems) == 8
    assert str(caught.value).startswith(f"{HERE / 'invalid-many-problems.yaml'}: version: 3 ")


def _valid(extra: str = "", endpoint: str = "") -> str:
    return ("version: 1\n" + extra +
            "endpoints:\n  - {name: a, host: a.example.com, port: 443, probe: https"
            + endpoint + "}\n")


def _problems(text: str) -> list[str]:
    with pytest.raises(CatalogError) as caught:
        parse_catalog(text, "t.yaml")
    return caught.value.problems


def test_lab_example_loads_with_every_key() -> None:
    # Given the example catalogue that shows the format
    path = HERE / "lab-example.yaml"
    # When it is loaded
    catalog = load_catalog(path)
    # Then every key is read and normalised, defaults apply unless overridden
    assert catalog.source == str(path)
    assert catalog.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    ws, web, tls, tcp = catalog.endpoints
    assert ws == Endpoint(
        name="lab-ws", host="ws.lab.netcheck.test", port=8443, probe="wss", path="/socket",
        expected_ips=("127.0.0.1",), tags=("websocket", "lab"),
        purpose="Secure websocket that upgrades (ws.ok)", required=True, timeout=2.0,
        expect_status=(101,), tls=TlsPolicy(min_version="1.2", expected_issuers=("netcheck lab",)))
    assert web.host == "www.lab.netcheck.test"
    assert web.path == "/health?full=1"
    assert web.expected_ips == ("::1", "127.0.0.1")
    assert web.timeout == 0.5
    assert web.expect_status == (200, 204)
    assert web.tls == TlsPolicy()
    assert tls.tls.min_version == "1.3"
    assert tls.expect_status is None
    assert (tcp.host, tcp.required, tcp.timeout, tcp.expected_ips) == ("127.0.0.1", False, 2.0, ())


@pytest.mark.parametrize(("written", "read"), [
    ("1.2", "1.2"), ('"1.2"', "1.2"), ("1.0", "1.0"), ("1.3", "1.3"), ("'1.1'", "1.1"),
])
def test_tls_min_version_accepts_unquoted_yaml_floats(written: str, read: str) -> None:
    # Given min_version written as people do, quoted or not
    # When the catalogue is parsed
    catalog = parse_catalog(_valid(endpoint=f", tls: {{min_version: {written}}}"), "t.yaml")
    # Then it is the version string
    assert catalog.endpoints[0].tls.min_version == read


def test_addresses_and_hosts_are_normalised() -> None:
    # Given an IPv6 address in long form, an upper-case host and an IPv6 host
    text = ("version: 1\nendpoints:\n"
            "  - {name: a, host: A.Example.COM, port: 443, probe: tls,"
            " expected_ips: ['2001:0DB8:0000::0001', 169.63.160.148]}\n"
            "  - {name: b, host: '2001:db8:0::2', port: 443, probe: tls}\n")
    # When it is parsed
    first, second = _endpoints_or_problems(text)
    # Then each is in the form reports and DNS answers use
    assert first.host == "a.example.com"
    assert first.expected_ips == ("2001:db8::1", "169.63.160.148")
    assert second.host == "2001:db8::2"


def _endpoints_or_problems(text: str) -> tuple[Endpoint, ...]:
    try:
        return parse_catalog(text, "t.yaml").endpoints
    except CatalogError as exc:  # surfaces the messages when the assumption is wrong
        raise AssertionError(exc.problems) from exc


def test_leading_zero_ipv4_is_rejected() -> None:
    # Given an address with a leading zero (octal in some parsers, 010 = 8)
    # When it is parsed
    problems = _problems(_valid(endpoint=", expected_ips: [010.1.2.3]"))
    # Then it is refused rather than guessed
    assert problems == ["endpoints[0].expected_ips[0]: '010.1.2.3' is not an IP address"]


def test_defaults_apply_and_endpoint_values_win() -> None:
    # Given defaults and one endpoint overriding them
    text = ("version: 1\ndefaults: {timeout: 3, required: false}\nendpoints:\n"
            "  - {name: a, host: a.example.com, port: 443, probe: tcp}\n"
            "  - {name: b, host: b.example.com, port: 443, probe: tcp,"
            " timeout: 1, required: true}\n")
    # When it is parsed
    a, b = parse_catalog(text, "t.yaml").endpoints
    # Then
    assert (a.timeout, a.required) == (3.0, False)
    assert (b.timeout, b.required) == (1.0, True)


def test_without_defaults_the_model_defaults_apply() -> None:
    endpoint = parse_catalog(_valid(), "t.yaml").endpoints[0]
    assert (endpoint.timeout, endpoint.required, endpoint.path) == (5.0, True, "/")
    assert endpoint.expect_status is None and endpoint.tags == () and endpoint.purpose == ""


def test_yaml_merge_keys_are_not_duplicate_keys() -> None:
    # Given endpoints sharing settings through an anchor and merge keys
    text = ("version: 1\nendpoints:\n"
            "  - &base {name: a, host: a.example.com, port: 443, probe: wss,"
            " expect_status: &ok [101, 404]}\n"
            "  - {<<: *base, name: b, port: 8443}\n"
            "  - {name: c, host: c.example.com, port: 443, probe: https, expect_status: *ok}\n")
    # When it is parsed
    _, b, c = _endpoints_or_problems(text)
    # Then the merged keys are taken and the explicit ones win, with no duplicate-key error
    assert (b.name, b.host, b.port, b.expect_status) == ("b", "a.example.com", 8443, (101, 404))
    assert c.expect_status == (101, 404)


def test_sha256_is_of_the_file_bytes(tmp_path: Path) -> None:
    # Given a file written with a UTF-8 byte-order mark, as some editors do
    data = b"\xef\xbb\xbf" + _valid(endpoint=", purpose: caf\u00e9").encode()
    path = tmp_path / "bom.yaml"
    path.write_bytes(data)
    # When it is loaded
    catalog = load_catalog(path)
    # Then it loads, and the digest is of the bytes on disk
    assert catalog.sha256 == hashlib.sha256(data).hexdigest()
    assert catalog.endpoints[0].purpose == "caf\u00e9"
    # and parse_catalog() digests the text's UTF-8 encoding
    assert parse_catalog(_valid(), "s").sha256 == hashlib.sha256(_valid().encode()).hexdigest()


def test_unreadable_file_is_a_catalog_error(tmp_path: Path) -> None:
    # Given a path that does not exist, and a directory
    missing = tmp_path / "nope.yaml"
    # When each is loaded
    with pytest.raises(CatalogError) as caught:
        load_catalog(missing)
    with pytest.raises(CatalogError) as caught_dir:
        load_catalog(tmp_path)
    # Then the problem names the file and the reason, never a traceback
    assert caught.value.problems == [f"file: cannot read {missing} (No such file or directory)"]
    assert caught_dir.value.problems == [f"file: cannot read {tmp_path} (Is a directory)"]


def test_file_larger_than_one_mib_is_refused(tmp_path: Path) -> None:
    # Given a file one byte over the limit (a comment, so the size is the only problem)
    path = tmp_path / "big.yaml"
    path.write_bytes(_valid().encode() + b"#" * MAX_BYTES)
    # When it is loaded, or its text parsed
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    too_big = "file: larger than 1 MiB (1048576 bytes); a catalogue is a few kilobytes"
    # Then it is refused without being parsed
    assert caught.value.problems == [too_big]
    assert _problems(path.read_text()) == [too_big]


def test_not_utf8_is_refused(tmp_path: Path) -> None:
    # Given a Latin-1 file
    path = tmp_path / "latin1.yaml"
    path.write_bytes(_valid(endpoint=", purpose: caf\xe9").encode("latin-1"))
    # When it is loaded
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    # Then the offending byte and its offset are named
    offset = path.read_bytes().index(b"\xe9")
    assert caught.value.problems == [f"file: not UTF-8 text (byte 0xe9 at offset {offset})"]


def test_control_character_is_placed() -> None:
    assert _problems("version: 1\nendpoints: \x01\n") == [
        "line 2, column 12: control characters are not allowed"]


def test_huge_integers_never_raise() -> None:
    # Given integers past Python's str conversion limit, in decimal and in hex
    # (hex is not limited when read, but repr() of the result would raise)
    decimal = _problems("version: " + "9" * 5000 + "\nendpoints: []\n")
    hexa = _problems("version: 0x" + "f" * 5000 + "\nendpoints: []\n")
    # Then each is a problem with a place
    assert decimal[0].startswith("line 1, column 10: '99999")
    assert "cannot be read (Exceeds the limit (4300 digits)" in decimal[0]
    assert hexa[0] == "version: a very large number is not supported (expected 1)"


def test_deep_nesting_is_a_problem_not_a_crash() -> None:
    problems = _problems("version: 1\nendpoints: " + "[" * 5000 + "]" * 5000 + "\n")
    assert len(problems) == 1 and "exceeded maximum nesting depth" in problems[0]


def test_alias_bomb_is_cheap_and_capped() -> None:
    # Given a "billion laughs" document: nine levels of nine aliases
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    lines += ["version: 1", "endpoints: [" + ", ".join(["*a8"] * 9) + "]"]
    # When it is parsed
    problems = _problems("\n".join(lines))
    # Then it is refused quickly (aliases are shared, never expanded), and the
    # report is capped with a count of the rest
    assert "endpoints[0]: expected a mapping, got a list" in problems
    assert len(problems) <= MAX_PROBLEMS + 1


def test_too_many_endpoints_is_one_problem() -> None:
    text = ("e: &e {name: a, host: a.example.com, port: 443, probe: tcp}\n"
            "version: 1\nendpoints: [" + ", ".join(["*e"] * 2001) + "]\n")
    assert _problems(text) == [
        "top level: unknown key 'e' (allowed: version, defaults, endpoints)",
        "endpoints: 2001 entries is too many (at most 2000)",
    ]


def test_long_list_is_one_problem() -> None:
    tags = ", ".join(f"t{i}" for i in range(257))
    assert _problems(_valid(endpoint=f", tags: [{tags}]")) == [
        "endpoints[0].tags: 257 items is too many (at most 256)"]


def test_problem_list_is_capped() -> None:
    # Given more broken endpoints than the report shows
    body = "".join(f"  - {{name: n{i}, host: h, port: 0, probe: tcp}}\n" for i in range(150))
    # When parsed
    problems = _problems("version: 1\nendpoints:\n" + body)
    # Then the first MAX_PROBLEMS are shown and the rest are counted
    assert len(problems) == MAX_PROBLEMS + 1
    assert problems[-1] == "... and 50 more problems"


@pytest.mark.parametrize("text", [
    "", "~", "[]", "3", "'x'", "{}", "version: 1", "endpoints: {}", "version: !!binary aGk=",
    "version: !!set {a}", "? [a]\n: b", "{[a]: b}", "--- 1\n--- 2\n", "version: 1\nendpoints: [[]]",
    "&a [*a]", "version: 1\nendpoints:\n  - {name: a, host: a.example.com, port: 443, probe: tls,"
    " tls: [1]}",
])
def test_odd_documents_are_catalog_errors(text: str) -> None:
    # Given documents of every odd shape
    # When parsed
    problems = _problems(text)
    # Then each yields placed problems, never another exception
    assert problems and all(": " in p for p in problems)


def test_catalog_is_frozen() -> None:
    catalog = parse_catalog(_valid(), "t.yaml")
    assert isinstance(catalog, Catalog)
    with pytest.raises(AttributeError):
        catalog.endpoints[0].port = 1  # type: ignore[misc]


def test_duplicate_keys_are_reported_with_the_other_problems() -> None:
    # Given a duplicated key and an unrelated bad port in one file
    text = ("version: 1\nendpoints:\n"
            "  - {name: a, host: a.example.com, port: 443, probe: tls, probe: tcp}\n"
            "  - {name: b, host: b.example.com, port: 0, probe: tls}\n")
    # When parsed
    # Then both are reported at once
    assert _problems(text) == [
        "line 3, column 59: duplicate key 'probe' (first at line 3, column 47)",
        "endpoints[1].port: 0 is not a port (1-65535)",
    ]


def test_tls_pins_are_read() -> None:
    # Given an endpoint pinning two SPKI hashes (the base64 form HPKP and curl's
    # --pinnedpubkey "sha256//..." use)
    pins = ["47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
            "YLh1dUR9y6Kja30RrAn7JKnbQG/uEtLMkBgFF2Fuihg="]
    text = ("version: 1\nendpoints:\n"
            f"  - {{name: a, host: a.example.com, port: 443, probe: tls, "
            f"tls: {{pin_sha256: [{pins[0]}, {pins[1]}]}}}}\n")
    # When parsed
    catalog = parse_catalog(text, "t.yaml")
    # Then the pins are kept in order, the other policy keys at their defaults
    assert catalog.endpoints[0].tls == TlsPolicy(pin_sha256=tuple(pins))
