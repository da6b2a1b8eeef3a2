"""Property: no input makes the loader raise anything but CatalogError."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from netcheck.catalog import Catalog, CatalogError, parse_catalog

KEYS = st.sampled_from(["version", "defaults", "endpoints", "name", "host", "port", "probe",
                        "path", "expected_ips", "tags", "purpose", "required", "timeout",
                        "expect_status", "tls", "min_version", "expected_issuers", "x"])
SCALARS = (st.none() | st.booleans() | st.integers(-10, 70000) | st.floats()
           | st.sampled_from(["wss", "https", "tls", "tcp", "/", "1.2", "a.example.com",
                              "10.0.0.1", "::1", "", "a", "A B"])
           | st.text(max_size=8))
VALUES: st.SearchStrategy[Any] = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS | SCALARS, inner, max_size=5),
    max_leaves=25,
)


def _never_raises_otherwise(text: str) -> None:
    try:
        result = parse_catalog(text, "fuzz")
    except CatalogError as exc:
        assert exc.problems and all(isinstance(p, str) and ": " in p for p in exc.problems)
    else:
        assert isinstance(result, Catalog)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(KEYS, VALUES, max_size=4) | VALUES)
def test_any_yaml_document_is_a_catalog_or_a_catalog_error(doc: Any) -> None:
    # Given any document built from catalogue-like keys and values
    try:
        text = yaml.safe_dump(doc)
    except yaml.YAMLError:
        return  # unrepresentable (e.g. unhashable key): not a document anyone can write
    # When it is parsed, Then it loads or every problem is a placed message
    _never_raises_otherwise(text)


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("version: 1\nendpoints:-[]{}&*!|>'\"#,?@`%\t x0"))
               , max_size=80))
def test_any_text_is_a_catalog_or_a_catalog_error(text: str) -> None:
    # Given arbitrary text made of YAML's special characters
    # When parsed, Then never a traceback
    _never_raises_otherwise(text)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.dictionaries(KEYS, VALUES, max_size=4), min_size=1, max_size=3),
       st.dictionaries(KEYS, VALUES, max_size=2))
def test_endpoints_with_any_extra_fields(extras: list[dict[Any, Any]],
                                         defaults: dict[Any, Any]) -> None:
    # Given well-formed endpoints with arbitrary keys added or overridden,
    # so validation reaches every field's rule
    endpoints = [{"name": f"e{i}", "host": "a.example.com", "port": 443, "probe": "wss", **extra}
                 for i, extra in enumerate(extras)]
    text = yaml.safe_dump({"version": 1, "defaults": defaults, "endpoints": endpoints})
    # When parsed, Then never a traceback
    _never_raises_otherwise(text)
