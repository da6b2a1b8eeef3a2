"""Certificates for the loopback lab, made at start (nothing is stored).

Four CAs play the four roles a TLS verdict tells apart:

* ``vendor``     -- stands in for the public web PKI: trusted through
  ``--ca-bundle`` (the first trust set), so a good lab server verifies.
* ``enterprise`` -- a private CA an enterprise pushed to its machines: trusted
  by the *system* store only (``SSL_CERT_FILE`` points at a bundle holding
  it), so a chain to it is ``tls.intercepted``.
* ``rogue``      -- trusted nowhere: ``tls.untrusted``.
* ``inspection`` -- trusted nowhere, but its name is an inspection product's:
  ``tls.intercepted`` by issuer name.
"""

from __future__ import annotations

import datetime as dt
import ssl
import tempfile
from pathlib import Path

import certifi
import trustme

LAB_HOST_SUFFIX = "lab.netcheck.test"  # .test is reserved (RFC 2606): never a real name


class LabPki:
    def __init__(self, workdir: Path | None = None) -> None:
        self._tmp = None if workdir is not None else tempfile.TemporaryDirectory(
            prefix="netcheck-lab-pki-")
        self.workdir = workdir if workdir is not None else Path(self._tmp.name)  # type: ignore[union-attr]
        self.vendor = trustme.CA(organization_name="netcheck lab vendor CA")
        self.enterprise = trustme.CA(organization_name="netcheck lab enterprise CA")
        self.rogue = trustme.CA(organization_name="netcheck lab unknown CA")
        self.inspection = trustme.CA(organization_name="Zscaler Inc. (netcheck lab)")
        self.ca_bundle = self.workdir / "lab-vendor-ca.pem"
        self.ca_bundle.write_bytes(self.vendor.cert_pem.bytes())
        # What SSL_CERT_FILE points at to play "the system store of an
        # enterprise machine": the public roots plus the enterprise CA.
        self.system_bundle = self.workdir / "lab-system-store.pem"
        self.system_bundle.write_bytes(
            Path(certifi.where()).read_bytes() + b"\n" + self.enterprise.cert_pem.bytes())

    def server_context(
        self,
        *hosts: str,
        ca: trustme.CA | None = None,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        min_version: ssl.TLSVersion | None = None,
        max_version: ssl.TLSVersion | None = None,
        alpn: list[str] | None = None,
    ) -> ssl.SSLContext:
        """A server context presenting a fresh certificate for ``hosts``."""
        issuer = ca if ca is not None else self.vendor
        leaf = issuer.issue_cert(*hosts, not_before=not_before, not_after=not_after)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        leaf.configure_cert(ctx)
        if min_version is not None:
            ctx.minimum_version = min_version
        if max_version is not None:
            ctx.maximum_version = max_version
        if alpn:
            ctx.set_alpn_protocols(alpn)
        return ctx

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()


def days_from_now(days: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(days=days)
