"""select(): --only and --tag, as the CLI passes them (repeatable, comma lists)."""

from __future__ import annotations

from pathlib import Path

import pytest

from netcheck.catalog import Catalog, CatalogError, known_tags, load_catalog, select

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def lab() -> Catalog:
    return load_catalog(HERE / "lab-example.yaml")


def _names(catalog: Catalog) -> list[str]:
    return [e.name for e in catalog.endpoints]


def test_no_filter_keeps_everything(lab: Catalog) -> None:
    assert select(lab, [], []) == lab


def test_only_by_exact_name(lab: Catalog) -> None:
    # Given --only lab-tls
    # When selecting
    chosen = select(lab, ["lab-tls"], [])
    # Then only that endpoint, with the catalogue's source and digest
    assert _names(chosen) == ["lab-tls"]
    assert (chosen.source, chosen.sha256) == (lab.source, lab.sha256)


def test_only_by_comma_list_and_repeats_in_catalogue_order(lab: Catalog) -> None:
    # Given --only 'lab-tcp, lab-ws' --only lab-tls (order given is not catalogue order)
    chosen = select(lab, ["lab-tcp, lab-ws", "lab-tls"], [])
    # Then the endpoints come in catalogue order
    assert _names(chosen) == ["lab-ws", "lab-tls", "lab-tcp"]


def test_tag_selects_endpoints_having_any_tag(lab: Catalog) -> None:
    assert _names(select(lab, [], ["tls,tcp"])) == ["lab-tls", "lab-tcp"]
    assert _names(select(lab, [], ["lab"])) == _names(lab)


def test_only_and_tag_together_must_both_match(lab: Catalog) -> None:
    assert _names(select(lab, ["lab-ws,lab-tcp"], ["tcp"])) == ["lab-tcp"]


def test_only_and_tag_with_nothing_in_common_is_an_error(lab: Catalog) -> None:
    with pytest.raises(CatalogError) as caught:
        select(lab, ["lab-ws"], ["tcp"])
    assert caught.value.problems == [
        "--only/--tag: no endpoint is both named lab-ws and tagged tcp"]


def test_unknown_names_are_all_reported_with_the_known_ones(lab: Catalog) -> None:
    # Given a typo and a name that does not exist
    with pytest.raises(CatalogError) as caught:
        select(lab, ["lab-wss,nothing"], [])
    # Then each is named, with a suggestion when one is close
    known = "(known: lab-ws, lab-https, lab-tls, lab-tcp)"
    assert caught.value.problems == [
        f"--only: unknown endpoint 'lab-wss'; did you mean 'lab-ws'? {known}",
        f"--only: unknown endpoint 'nothing' {known}",
    ]
    assert caught.value.source == lab.source


def test_unknown_tag_names_the_known_tags(lab: Catalog) -> None:
    with pytest.raises(CatalogError) as caught:
        select(lab, [], ["websockets"])
    assert caught.value.problems == [
        "--tag: unknown tag 'websockets'; did you mean 'websocket'? "
        "(known: websocket, lab, https, tls, tcp, optional)"]


def test_empty_option_values_are_an_error(lab: Catalog) -> None:
    # Given --only ',' and --tag '' (a shell variable that was empty)
    with pytest.raises(CatalogError) as caught:
        select(lab, [","], [""])
    # Then nothing is silently widened to "everything"
    assert caught.value.problems == ["--only: no endpoint name given", "--tag: no tag given"]


def test_known_tags_in_order_of_first_use(lab: Catalog) -> None:
    assert known_tags(lab) == ["websocket", "lab", "https", "tls", "tcp", "optional"]


def test_builtin_region_selection() -> None:
    catalog = load_catalog()
    assert _names(select(catalog, [], ["region-uk", "global"])) == [
        "webclient-uk3", "lon02-webrtc", "uk3", "cdn", "workspace", "azure-login"]
