"""A throwaway certificate authority for the local HTTPS stand-ins.

azure-core's bearer-token policy refuses to send a token over plain http, so the ARM stand-in must
speak TLS. Clients trust it through ``ca.pem`` (``connection_verify=str(ca.ca_bundle)`` for the
Azure SDK, ``verify=...`` for requests).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme

SERVER_IDENTITIES: tuple[str, ...] = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class LocalCA:
    """A CA plus one server certificate valid for ``127.0.0.1`` and ``localhost``."""

    directory: Path
    ca_bundle: Path
    server_pem: Path
    _ca: trustme.CA
    _leaf: trustme.LeafCert

    @classmethod
    def create(cls, directory: Path) -> LocalCA:
        """Create a CA, write ``ca.pem`` (trust anchor) and ``server.pem`` (key + chain) to ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        ca = trustme.CA(organization_name="drift local test CA")
        leaf = ca.issue_cert(*SERVER_IDENTITIES, common_name="localhost")
        ca_bundle = directory / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_bundle))
        server_pem = directory / "server.pem"
        leaf.private_key_and_cert_chain_pem.write_to_path(str(server_pem))
        server_pem.chmod(0o600)
        return cls(directory=directory, ca_bundle=ca_bundle, server_pem=server_pem, _ca=ca, _leaf=leaf)

    def server_context(self) -> ssl.SSLContext:
        """A fresh server-side context presenting the loopback certificate."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._leaf.configure_cert(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client-side context that trusts only this CA (for urllib/http.client callers)."""
        return ssl.create_default_context(cafile=str(self.ca_bundle))
