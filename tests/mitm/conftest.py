"""A real intercepting proxy for the TLS-inspection tests: mitmproxy's
``mitmdump``, in a venv of its own (its pinned dependencies clash with ours;
on Python 3.11 its newest release is 11.0.x)::

    python3 -m venv /opt/netcheck-mitm
    /opt/netcheck-mitm/bin/pip install 'mitmproxy==11.0.*'

Found at ``$NETCHECK_MITMDUMP`` or ``/opt/netcheck-mitm/bin/mitmdump``. One
mitmdump serves two modes at once: ``regular`` (a forward proxy, netcheck
``--proxy``) and ``reverse:https://127.0.0.1:<ws-ok>`` (transparent-style
interception: netcheck connects to it as if it were the vendor's address).

Safety: mitmdump listens on 127.0.0.1 only; ``lab_addon.py`` rewrites every
upstream to 127.0.0.1 (lab names only, anything else refused) before
mitmproxy would resolve it; ``guard/sitecustomize.py`` makes name resolution
impossible in mitmdump's interpreter. The fixture asserts afterwards, from the
decision log, that no name was ever looked up and that every upstream was
127.0.0.1.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from mitmlab import INSTALL, Mitmdump, find_mitmdump

from netcheck.lab import Lab, LabThread


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with LabThread() as running:
        yield running


@pytest.fixture(scope="module")
def mitm(lab: Lab) -> Iterator[Mitmdump]:
    binary = find_mitmdump()
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"mitmdump is not installed: CI must run {INSTALL}")
        pytest.skip(f"mitmdump (mitmproxy) is not installed: {INSTALL}")
    proxy = Mitmdump(binary, reverse_to=lab.ports["ws-ok"])
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
        lines = proxy.decision_lines()
        proxy.cleanup()
    # The addon saw the upstreams (it was loaded); nothing but loopback, and
    # not one name lookup, in the whole module
    assert lines, "lab_addon.py made no decision: was it loaded?"
    assert not [line for line in lines if not line.startswith("connect ")], lines
    assert all(line.endswith(" -> 127.0.0.1:" + line.rsplit(":", 1)[1]) for line in lines)
