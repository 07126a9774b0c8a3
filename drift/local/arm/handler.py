"""The stand-in's HTTP request handler: parsing an ARM request and answering it.

`ArmHandler` serves the admin surface, counts the request, applies the read bucket, latency and injected
faults, checks the bearer token and api-version, parses the JSON body into a `Request`, hands it to
`ArmStandIn._handle` and answers (reporting the exchange to traffic.py when a test observes it). Any
failure of the stand-in itself still answers, with a 500.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from drift.local import traffic
from drift.local.arm.errors import STATUS_CODES, ArmError, error_body
from drift.local.arm.routes import Request
from drift.local.credential import decode_unverified
from drift.local.httpd import JsonRequestHandler

if TYPE_CHECKING:
    from drift.local.arm.standin import ArmStandIn

log = logging.getLogger(__name__)


def format_retry_after(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


class ArmHandler(JsonRequestHandler):
    standin: ArmStandIn  # set on the per-instance subclass

    def do_GET(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        standin = self.standin
        method = self.command.upper()
        split = urlsplit(self.path)
        raw_path, raw_query = split.path, split.query
        query = {k.lower(): v for k, v in parse_qsl(raw_query, keep_blank_values=True)}
        raw_body = self.read_body()
        correlation_id = self.headers.get("x-ms-correlation-request-id") or str(uuid.uuid4())
        headers = {"x-ms-request-id": str(uuid.uuid4()), "x-ms-correlation-request-id": correlation_id}

        if raw_path.lower().startswith("/_standin/"):
            try:
                body = json.loads(raw_body) if raw_body else None
                status, answer = standin._admin(method, raw_path, query, body)
            except (ValueError, KeyError, TypeError) as exc:
                status, answer = 400, {"error": {"code": "BadRequest", "message": str(exc)}}
            self.send_json(status, answer)
            return

        standin._count(method, raw_path)
        request: Request | None = None

        def answer_with(status: int, answer: Any) -> None:
            if traffic.observed():
                request_body = request.body if request is not None else None
                traffic.report_exchange(traffic.Exchange(
                    method, raw_path, query, request_body, status, answer, dict(headers),
                    request.poll_of if request is not None else None))
            self.send_json(status, answer, headers)

        wait = standin._throttle(method, raw_path)
        if wait:
            headers["Retry-After"] = format_retry_after(wait)
            answer_with(429, error_body(raw_path, "TooManyRequests",
                                        "Number of read requests for subscription exceeded the limit"))
            return
        if standin.latency > 0:
            time.sleep(standin.latency)
        fault = standin._take_fault(method, raw_path)
        if fault is not None:
            if fault.retry_after is not None:
                headers["Retry-After"] = format_retry_after(fault.retry_after)
            code = STATUS_CODES.get(fault.status, "InjectedFault")
            message = f"Injected fault {fault.status} from the ARM stand-in."
            answer_with(fault.status, error_body(raw_path, code, message))
            return

        try:
            authorization = self.headers.get("Authorization") or ""
            if authorization[:7].lower() != "bearer " or not authorization[7:].strip():
                raise ArmError(
                    401,
                    "AuthenticationFailed",
                    "Authentication failed. The 'Authorization' header is missing or not a Bearer token.",
                )
            if not query.get("api-version"):
                raise ArmError(
                    400,
                    "MissingApiVersionParameter",
                    "The api-version query parameter (?api-version=) is required for all requests.",
                )
            try:
                body = json.loads(raw_body) if raw_body.strip() else None
            except ValueError as exc:
                raise ArmError(
                    400,
                    "InvalidRequestContent",
                    f"The request content was invalid and could not be deserialized: {exc}",
                ) from None
            request = Request(
                method=method,
                raw_path=raw_path,
                raw_query=raw_query,
                segments=[unquote(s) for s in raw_path.split("/") if s],
                query=query,
                headers=self.headers,
                body=body,
                claims=decode_unverified(authorization),
                client_ip=self.client_address[0],
                correlation_id=correlation_id,
            )
            status, answer, extra = standin._handle(request)
            headers.update(extra)
        except ArmError as err:
            status, answer = err.status, err.body(raw_path)
        except Exception:  # a bug in the stand-in must still produce an answer
            log.exception("ARM stand-in failed on %s %s", method, raw_path)
            status, answer = 500, error_body(raw_path, "InternalServerError", "stand-in failure")
        answer_with(status, answer)
