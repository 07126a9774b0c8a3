"""An offline azure-core ``TokenCredential`` whose tokens carry chosen identity claims.

Azure puts the caller's JWT claims into every subscription event (``data.claims``). The stand-in
cannot verify a real token, so this credential hands out an *unsigned* JWT (``alg: none``) and the
stand-in decodes it with :func:`decode_unverified` to fill the event exactly as Azure would. The
token is worthless anywhere else: nothing signs it.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Mapping
from typing import Any, Self

from azure.core.credentials import AccessToken, AccessTokenInfo, TokenRequestOptions

DEFAULT_TENANT_ID = "72f988bf-0000-0000-0000-000000000000"
# The Azure CLI's public client id: what a person running `az mysql flexible-server ...` presents.
AZURE_CLI_APP_ID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
CASEY_OBJECT_ID = "5f1c3a7e-2b8d-4c6f-9e0a-1d2b3c4d5e6f"

CLAIM_UPN = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
CLAIM_NAME_LONG = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
CLAIM_NAMEIDENTIFIER = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier"
CLAIM_OBJECT_ID = "http://schemas.microsoft.com/identity/claims/objectidentifier"
CLAIM_TENANT_ID = "http://schemas.microsoft.com/identity/claims/tenantid"
CLAIM_SCOPE = "http://schemas.microsoft.com/identity/claims/scope"

_DEFAULT_SCOPE = "https://management.azure.com/.default"


def careless_admin_claims(tenant_id: str = DEFAULT_TENANT_ID) -> dict[str, Any]:
    """Claims of a person changing things by hand with the Azure CLI ("Casey Admin")."""
    return {
        "name": "Casey Admin",
        "upn": "casey@contoso.example",
        CLAIM_UPN: "casey@contoso.example",
        CLAIM_NAME_LONG: "casey@contoso.example",
        "appid": AZURE_CLI_APP_ID,
        "appidacr": "0",
        CLAIM_OBJECT_ID: CASEY_OBJECT_ID,
        CLAIM_NAMEIDENTIFIER: CASEY_OBJECT_ID,
        CLAIM_TENANT_ID: tenant_id,
        CLAIM_SCOPE: "user_impersonation",
        "ipaddr": "203.0.113.7",
    }


def service_principal_claims(
    app_id: str, object_id: str, *, tenant_id: str = DEFAULT_TENANT_ID
) -> dict[str, Any]:
    """Claims of an application (service principal or managed identity): ``appid``, no ``upn``/``name``."""
    return {
        "appid": app_id,
        "appidacr": "2",
        "idtyp": "app",
        CLAIM_OBJECT_ID: object_id,
        CLAIM_NAMEIDENTIFIER: object_id,
        CLAIM_TENANT_ID: tenant_id,
    }


def _b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_unsigned(claims: Mapping[str, Any]) -> str:
    """``base64url(header).base64url(claims).`` with ``alg: none`` (an unsecured JWT, RFC 7519 §6)."""
    header = {"typ": "JWT", "alg": "none"}
    parts = [json.dumps(header, separators=(",", ":")), json.dumps(dict(claims), separators=(",", ":"))]
    return ".".join(_b64url_encode(p.encode("utf-8")) for p in parts) + "."


def decode_unverified(token: str) -> dict[str, Any]:
    """The claims of a JWT without checking any signature; ``{}`` for anything that is not a JWT.

    Accepts an ``Authorization`` header value too (``"Bearer eyJ..."``).
    """
    if not isinstance(token, str):
        return {}
    token = token.strip()
    if token[:7].lower() == "bearer ":
        token = token[7:].strip()
    parts = token.split(".")
    if len(parts) < 2 or not parts[1]:
        return {}
    try:
        claims = json.loads(_b64url_decode(parts[1]))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return {}
    return claims if isinstance(claims, dict) else {}


def _audience(scope: str) -> str:
    return scope.removesuffix(".default")


class LocalCredential:
    """A ``TokenCredential`` (and ``SupportsTokenInfo``) issuing unsigned JWTs with the given claims.

    ``claims`` default to :func:`careless_admin_claims`. Standard JWT claims (``aud`` from the first
    scope, ``iss``, ``iat``, ``nbf``, ``exp``, ``ver``) are added to each token unless given.
    """

    def __init__(self, claims: Mapping[str, Any] | None = None, *, lifetime_seconds: int = 3600) -> None:
        self._claims: dict[str, Any] = dict(claims) if claims is not None else careless_admin_claims()
        self._lifetime = lifetime_seconds
        self.last_scopes: tuple[str, ...] | None = None
        self.tokens_issued = 0

    @property
    def claims(self) -> dict[str, Any]:
        """The identity claims this credential puts into its tokens (a copy)."""
        return dict(self._claims)

    def _issue(self, scopes: tuple[str, ...]) -> tuple[str, int]:
        self.last_scopes = scopes
        self.tokens_issued += 1
        now = int(time.time())
        expires_on = now + self._lifetime
        tenant = str(self._claims.get(CLAIM_TENANT_ID) or self._claims.get("tid") or DEFAULT_TENANT_ID)
        payload: dict[str, Any] = {
            "aud": _audience(scopes[0] if scopes else _DEFAULT_SCOPE),
            "iss": f"https://sts.windows.net/{tenant}/",
            "iat": now,
            "nbf": now,
            "exp": expires_on,
            "ver": "1.0",
        }
        payload.update(self._claims)
        return encode_unsigned(payload), expires_on

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        """Issue a token; the keyword arguments of the protocol are accepted and ignored."""
        token, expires_on = self._issue(scopes)
        return AccessToken(token, expires_on)

    def get_token_info(self, *scopes: str, options: TokenRequestOptions | None = None) -> AccessTokenInfo:
        """Same as :meth:`get_token`, for azure-core's newer ``SupportsTokenInfo`` protocol."""
        token, expires_on = self._issue(scopes)
        return AccessTokenInfo(token, expires_on)

    def close(self) -> None:
        """Nothing to release (present because azure-core clients call it)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
