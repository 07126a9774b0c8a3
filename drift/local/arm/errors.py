"""ARM's error answers and the checks of request content that produce them.

`ArmError` is an error answer with its HTTP status; `error_body` gives ARM's shape, or the Monitor spec's
own ``ErrorResponse`` for diagnostic settings. The checks here (a JSON object, its ``properties``, an IPv4
address, the method a path allows) raise it, so every operation handler refuses bad input the same way.
"""

from __future__ import annotations

import ipaddress
from typing import Any

STATUS_CODES = {
    400: "BadRequest",
    401: "AuthenticationFailed",
    403: "AuthorizationFailed",
    404: "ResourceNotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    412: "PreconditionFailed",
    429: "TooManyRequests",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}

JsonDict = dict[str, Any]


class ArmError(Exception):
    """An ARM error answer: ``{"error": {"code": ..., "message": ...}}`` with an HTTP status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    def body(self, path: str = "") -> JsonDict:
        return error_body(path, self.code, self.message)


def error_body(path: str, code: str, message: str) -> JsonDict:
    """ARM's error shape, or the Monitor spec's own ``ErrorResponse`` for diagnostic settings."""
    if "/providers/microsoft.insights/" in path.lower():
        return {"code": code, "message": message}
    return {"error": {"code": code, "message": message}}


def json_object(body: Any, what: str = "request") -> JsonDict:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ArmError(400, "InvalidRequestContent", f"The {what} content must be a JSON object.")
    return body


def properties_of(body: Any) -> JsonDict:
    props = json_object(body).get("properties") or {}
    if not isinstance(props, dict):
        raise ArmError(400, "InvalidRequestContent", "'properties' must be a JSON object.")
    return props


def not_found(resource_type: str, name: str, resource_group: str) -> ArmError:
    return ArmError(
        404,
        "ResourceNotFound",
        f"The Resource '{resource_type}/{name}' under resource group '{resource_group}' was not found. "
        "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    )


def ipv4(value: Any, field_name: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(str(value))
    except ValueError:
        raise ArmError(
            400, "InvalidParameterValue", f"'{field_name}' must be an IPv4 address, got '{value}'."
        ) from None


def require_method(request: Any, method: str) -> None:
    if request.method != method:
        raise ArmError(
            405, "MethodNotAllowed", f"The requested method '{request.method}' is not allowed."
        )


def method_not_allowed(request: Any) -> ArmError:
    return ArmError(405, "MethodNotAllowed", f"The requested method '{request.method}' is not allowed.")
