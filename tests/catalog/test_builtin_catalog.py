"""The built-in endpoints.yaml: exactly the install guide's prerequisites.

The table below is copied by hand from the vendor's "Alloy for Teams Install
Guide", Prerequisites, so an edit to endpoints.yaml that drops or changes an
endpoint, port or published address fails here.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

from netcheck.catalog import BUILTIN_SOURCE, builtin_path, describe, load_catalog

REPO = Path(__file__).resolve().parents[2]

# name: (host, port, probe, expected_ips)
GUIDE = {
    # Secure websocket connections
    "webclient-uk3": ("webclient-uk3.moviuscorp.net", 443, "wss", ("169.50.222.162",)),
    "webclient-sng01": ("webclient-sng01.moviuscorp.net", 443, "wss", ("161.202.2.132",)),
    "webclient-wdc06": ("webclient-wdc06.moviuscorp.net", 443, "wss", ("169.63.160.154",)),
    "webclient-dal12": ("webclient-dal12.moviuscorp.net", 443, "wss", ("169.63.26.234",)),
    "sml-webrtc": ("sml-webrtc.moviuscorp.net", 443, "wss", ("169.63.129.151", "169.63.26.230")),
    "lon02-webrtc": ("lon02-webrtc.moviuscorp.net", 443, "wss", ("169.50.222.172",)),
    "sng01-webrtc": ("sng01-webrtc.moviuscorp.net", 443, "wss", ("161.202.2.140",)),
    "slab-webrtc": ("slab-webrtc.moviuscorp.net", 443, "wss", ("169.46.89.190",)),
    # Https connections
    "sml": ("sml.moviuscorp.net", 8021, "https", ("169.63.160.148", "169.63.26.228")),
    "us": ("us.moviuscorp.net", 8021, "https", ("169.63.160.148", "169.63.26.228")),
    "wdcgc2": ("wdcgc2.moviuscorp.net", 8021, "https", ("169.63.160.148",)),
    "dal12": ("dal12.moviuscorp.net", 8021, "https", ("169.63.26.228",)),
    "uk3": ("uk3.moviuscorp.net", 8021, "https", ("169.50.222.162",)),
    "sng01": ("sng01.moviuscorp.net", 8021, "https", ("161.202.2.132",)),
    "cdn": ("cdnakauamq11hbp9.cdn.appdomain.cloud", 443, "https", ()),
    "workspace": ("workspace.movius.ai", 443, "https", ()),
    # Azure admin consent (Step 1)
    "azure-login": ("login.microsoftonline.com", 443, "https", ()),
}

REGIONS = {
    "region-uk": {"webclient-uk3", "lon02-webrtc", "uk3"},
    "region-sg": {"webclient-sng01", "sng01-webrtc", "sng01"},
    "region-us-east": {"webclient-wdc06", "wdcgc2"},
    "region-us-south": {"webclient-dal12", "dal12"},
    "region-us": {"webclient-wdc06", "webclient-dal12", "sml-webrtc", "slab-webrtc",
                  "sml", "us", "wdcgc2", "dal12"},
    "global": {"cdn", "workspace", "azure-login"},
}


def test_builtin_catalogue_is_the_install_guide() -> None:
    # Given the built-in catalogue
    # When it is loaded with no path
    catalog = load_catalog()
    # Then it has exactly the guide's endpoints, in the guide's order
    assert catalog.source == BUILTIN_SOURCE
    got = {e.name: (e.host, e.port, e.probe, e.expected_ips) for e in catalog.endpoints}
    assert got == GUIDE
    assert [e.name for e in catalog.endpoints] == list(GUIDE)


def test_builtin_catalogue_digest_is_of_the_repository_file() -> None:
    catalog = load_catalog()
    assert builtin_path() == REPO / "endpoints.yaml"  # a source checkout
    assert catalog.sha256 == hashlib.sha256((REPO / "endpoints.yaml").read_bytes()).hexdigest()


def test_every_endpoint_has_a_purpose_a_kind_and_a_region_or_global() -> None:
    kinds = {"websocket", "https"}
    for e in load_catalog().endpoints:
        assert e.purpose, e.name
        assert kinds & set(e.tags), e.name
        assert {"websocket": "wss", "https": "https"}[next(iter(kinds & set(e.tags)))] == e.probe
        assert any(t.startswith("region-") or t == "global" for t in e.tags), e.name


def test_region_tags_follow_the_hostnames() -> None:
    catalog = load_catalog()
    for tag, names in REGIONS.items():
        assert {e.name for e in catalog.endpoints if tag in e.tags} == names, tag


def test_only_the_azure_step_is_optional() -> None:
    # The admin-consent endpoint is used once by the admin, not by every user.
    optional = [e.name for e in load_catalog().endpoints if not e.required]
    assert optional == ["azure-login"]
    azure = next(e for e in load_catalog().endpoints if e.name == "azure-login")
    assert "azure" in azure.tags


def test_websockets_accept_the_origin_answers_that_prove_the_path_open() -> None:
    # The vendor publishes no websocket paths: any answer from its origin after
    # a verified handshake proves the path open; 5xx (the vendor failing) does not.
    for e in load_catalog().endpoints:
        if e.probe == "wss":
            assert e.expect_status is not None and 101 in e.expect_status
            assert {400, 401, 403, 404, 426} <= set(e.expect_status)
            assert not any(s >= 500 for s in e.expect_status), e.name
        else:
            assert e.expect_status is None, e.name


def test_describe_gives_display_strings() -> None:
    catalog = load_catalog()
    sml = next(e for e in catalog.endpoints if e.name == "sml")
    cdn = next(e for e in catalog.endpoints if e.name == "cdn")
    assert describe(sml) == {
        "name": "sml", "host": "sml.moviuscorp.net", "port": "8021", "probe": "https",
        "path": "/", "expected_ips": "169.63.160.148, 169.63.26.228",
        "tags": "https, region-us", "required": "yes",
        "purpose": "HTTPS service of the MultiLine platform on port 8021, US (sml)",
    }
    assert describe(cdn)["expected_ips"] == "any"


def test_loading_the_catalogue_imports_no_heavy_modules() -> None:
    # Given a fresh interpreter (netcheck validate must start in < 150 ms)
    code = ("import sys; import netcheck.catalog as c; before = set(sys.modules); "
            "c.load_catalog(); "
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('rich', 'dns', 'httpx', 'websockets', 'cryptography', 'ssl', 'asyncio')); "
            "print('yaml' in before, heavy)")
    # When netcheck.catalog is imported and the built-in catalogue loaded
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=REPO).stdout.strip()
    # Then yaml is only imported when needed, and nothing heavy at all
    assert out == "False []"


def test_packaged_copy_is_preferred(tmp_path: Path) -> None:
    # Given the wheel's layout: the catalogue force-included as netcheck/endpoints.yaml
    # (catalog.py imports only netcheck.files from the package: a copy of both suffices)
    package = tmp_path / "site" / "netcheck"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    for module in ("catalog.py", "files.py"):
        (package / module).write_bytes((REPO / "netcheck" / module).read_bytes())
    (package / "endpoints.yaml").write_bytes((REPO / "endpoints.yaml").read_bytes())
    (tmp_path / "site" / "endpoints.yaml").write_text("not: the packaged one\n")
    # When the built-in catalogue is located and loaded there
    code = ("import netcheck.catalog as c; print(c.builtin_path()); "
            "print(len(c.load_catalog().endpoints))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=tmp_path, env={"PYTHONPATH": str(tmp_path / "site")})
    # Then the copy inside the package is used
    assert out.stdout.split() == [str(package.resolve() / "endpoints.yaml"), str(len(GUIDE))]
