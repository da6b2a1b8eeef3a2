"""The catalogue loader against mutations of the real endpoints.yaml.

tests/catalog/test_catalog_fuzz.py already fuzzes random documents built from
catalogue-like keys and random YAML-ish text. What it does not do, and this
file does: start from the real catalogue (every rule in play, comments,
anchors of real structure) and break it one way at a time, structurally and
textually; and run ``netcheck validate`` as a subprocess on mutated files,
which must exit 2 with placed messages, never a traceback, never hang.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netcheck.catalog import Catalog, CatalogError, builtin_path, parse_catalog

NETCHECK = str(Path(sys.executable).parent / "netcheck")
REAL_TEXT = builtin_path().read_text(encoding="utf-8")
REAL_DOC: dict[str, Any] = yaml.safe_load(REAL_TEXT)

VALUES: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats()
    | st.text(max_size=12) | st.sampled_from(["wss", "tcp", "1.3", "::1", "10.0.0.300",
                                              "-", "*.x", "a" * 300, "\x00", "\u202e"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=8)


def _paths(node: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in the document: mapping keys and list indexes."""
    found = [at]
    if isinstance(node, dict):
        for k, v in node.items():
            found += _paths(v, (*at, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found += _paths(v, (*at, i))
    return found


PATHS = _paths(REAL_DOC)[1:]


def _mutate(doc: Any, path: tuple[Any, ...], how: str, value: Any) -> Any:
    doc = copy.deepcopy(doc)
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if how == "replace":
        parent[last] = value
    elif how == "delete":
        del parent[last]
    elif how == "add-key" and isinstance(parent[last], dict):
        parent[last][f"unknown_{len(parent[last])}"] = value
    elif how == "duplicate" and isinstance(parent, list):
        parent.insert(int(last), copy.deepcopy(parent[last]))
    else:
        parent[last] = [parent[last], value]
    return doc


def _loads_or_places(text: str) -> None:
    try:
        catalog = parse_catalog(text, "mutant.yaml")
    except CatalogError as exc:
        assert exc.problems
        assert all(isinstance(p, str) and ": " in p and "\n" not in p for p in exc.problems)
    else:
        assert isinstance(catalog, Catalog)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(PATHS),
       st.sampled_from(["replace", "delete", "add-key", "duplicate", "wrap"]), VALUES)
def test_structural_mutations_of_the_real_catalogue(path: tuple[Any, ...], how: str,
                                                     value: Any) -> None:
    # Given the real catalogue with one place replaced, deleted, extended,
    # duplicated or wrapped in a list
    try:
        text = yaml.safe_dump(_mutate(REAL_DOC, path, how, value), allow_unicode=True)
    except yaml.YAMLError:
        return  # not representable as YAML: nobody can write it
    # When it is parsed, Then it loads or every problem is one placed line
    _loads_or_places(text)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, len(REAL_TEXT)), st.integers(0, 40),
       st.text(alphabet=st.sampled_from(list(":-[]{}&*!|>'\"#,?@`%\t\n x0\x00\ufeff")),
               max_size=6))
def test_textual_mutations_of_the_real_catalogue(at: int, cut: int, insert: str) -> None:
    # Given the real catalogue's text with a slice cut out and YAML's special
    # characters spliced in
    text = REAL_TEXT[:at] + insert + REAL_TEXT[at + cut:]
    # When parsed, Then never a traceback
    _loads_or_places(text)


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([NETCHECK, "validate", str(path)], capture_output=True, text=True,
                          timeout=30, check=False, env={**os.environ, "NO_COLOR": "1"})


def _invalid_mutants() -> dict[str, str]:
    ep0 = ["endpoints", 0]
    structural = {
        "port-string": ([*ep0, "port"], "replace", "four-four-three"),
        "port-huge": ([*ep0, "port"], "replace", 2**70),
        "probe-unknown": ([*ep0, "probe"], "replace", "ftp"),
        "host-missing": ([*ep0, "host"], "delete", None),
        "unknown-key": (["endpoints", 1], "add-key", "x"),
        "duplicate-endpoint": (["endpoints", 2], "duplicate", None),
        "ips-nested": ([*ep0, "expected_ips"], "wrap", {"a": [1]}),
        "defaults-list": (["defaults"], "replace", [1, 2]),
    }
    mutants = {}
    for name, (path, how, value) in structural.items():
        mutants[name] = yaml.safe_dump(_mutate(REAL_DOC, tuple(path), how, value))
    cut = REAL_TEXT.index("endpoints:")
    mutants["text-truncated-mid-mapping"] = REAL_TEXT[: cut + 40] + ": ["
    mutants["text-tab-indent"] = REAL_TEXT.replace("  - name:", "\t- name:", 1)
    mutants["text-nul"] = REAL_TEXT.replace("version: 1", "version: 1\x00", 1)
    mutants["text-alias-bomb"] = ('a: &a ["x","x","x","x","x","x","x","x","x"]\n'
                                  + "".join(f"{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p}]\n"
                                            for p, c in zip("abcdefgh", "bcdefghi",
                                                            strict=True))
                                  + REAL_TEXT)
    return mutants


MUTANTS = _invalid_mutants()


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_validate_subprocess_on_broken_copies_exits_2_with_messages(
        name: str, tmp_path: Path) -> None:
    # Given a copy of the real catalogue broken one way
    path = tmp_path / f"{name}.yaml"
    path.write_text(MUTANTS[name], encoding="utf-8")
    # When `netcheck validate` checks it (bounded: a hang fails the test)
    result = _validate(path)
    # Then it exits 2, every stderr line a placed message naming the file
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert lines, "no message"
    assert all(line.startswith(f"netcheck: {path}: ") for line in lines), lines
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
