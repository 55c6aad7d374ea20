"""A fake Tencent Cloud SMS endpoint (``POST /``, ``X-TC-Action: SendSms``), PLATFORMS.md §11.3.

Every answer is HTTP 200. Request-level errors sit in ``Response.Error``: a malformed
``Authorization`` (``AuthFailure.InvalidAuthorization``), ``X-TC-Timestamp`` more than 5 minutes
off (``AuthFailure.SignatureExpire``), unknown SecretId (``AuthFailure.SecretIdNotFound``), a
wrong TC3 signature (``AuthFailure.SignatureFailure``). Per-number outcomes sit in
``SendStatusSet`` (``Ok``, ``InvalidParameterValue.IncorrectPhoneNumber``,
``LimitExceeded.PhoneNumberThirtySecondLimit``, ``FailedOperation.PhoneNumberInBlacklist``).
"""

from __future__ import annotations

import hmac
import json
import re
import uuid
from datetime import timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shopsentinel.core.clock import Clock, SystemClock
from shopsentinel.notify.channels.tencent_signing import Authorization, credential_date, sign_tc3
from shopsentinel.sim.channels.common import FakeBase, SlidingWindowLimit, injected_fault

TIMESTAMP_WINDOW_S = 300
E164 = re.compile(r"^\+\d{6,15}$")


def _error(code: str, message: str) -> JSONResponse:
    return JSONResponse({"Response": {"Error": {"Code": code, "Message": message}, "RequestId": str(uuid.uuid4())}})


class FakeTencentSms(FakeBase):
    """``secrets`` maps SecretId → SecretKey; ``templates`` maps TemplateId → parameter count."""

    def __init__(
        self,
        secrets: dict[str, str],
        *,
        sdk_app_id: str,
        sign_names: set[str],
        templates: dict[str, int],
        clock: Clock | None = None,
    ) -> None:
        super().__init__(clock or SystemClock())
        self.secrets = secrets
        self.sdk_app_id = sdk_app_id
        self.sign_names = sign_names
        self.templates = templates
        self.blacklist: set[str] = set()
        self.per_number = SlidingWindowLimit(1, timedelta(seconds=30))
        self.app = Starlette(routes=[Route("/", self.api, methods=["POST"])])

    def _auth_problem(self, request: Request, body: bytes) -> JSONResponse | None:
        try:
            auth = Authorization.parse(request.headers.get("authorization", ""))
            timestamp = int(request.headers.get("x-tc-timestamp", ""))
        except (ValueError, KeyError):
            return _error("AuthFailure.InvalidAuthorization", "Authorization header is malformed.")
        if abs(self.clock.now().timestamp() - timestamp) > TIMESTAMP_WINDOW_S:
            return _error("AuthFailure.SignatureExpire", "Signature expired. Timestamp is not within 5 minutes.")
        secret = self.secrets.get(auth.secret_id)
        if secret is None or self.faults.reject_credentials:
            return _error("AuthFailure.SecretIdNotFound", "The SecretId is not found, please ensure that your SecretId is correct.")
        if auth.service != "sms" or auth.date != credential_date(timestamp) or not {"content-type", "host"} <= set(auth.signed_headers):
            return _error("AuthFailure.SignatureFailure", "The credential scope or signed headers are invalid.")
        try:
            expected = sign_tc3(
                secret, service="sms", timestamp=timestamp, headers=dict(request.headers),
                signed_headers=auth.signed_headers, body=body,
            )  # fmt: skip
        except KeyError:  # a signed header that was not sent
            return _error("AuthFailure.SignatureFailure", "A signed header is missing.")
        if not hmac.compare_digest(expected, auth.signature):
            return _error("AuthFailure.SignatureFailure", "The provided credentials could not be validated. Please check your signature is correct.")
        return None

    async def api(self, request: Request) -> Response:
        self.requests_seen += 1
        fault = await injected_fault(request, self.faults)
        if fault is not None:
            return fault
        body = await request.body()
        problem = self._auth_problem(request, body)
        if problem is not None:
            return problem
        if request.headers.get("x-tc-action") != "SendSms" or request.headers.get("x-tc-version") != "2021-01-11":
            return _error("InvalidAction", "The action or version does not exist.")
        if not request.headers.get("x-tc-region"):
            return _error("MissingParameter", "The request is missing a required parameter `Region`.")
        try:
            payload = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error("InvalidParameter", "Body is not valid JSON.")
        return self._send_sms(payload, dict(request.headers))

    def _send_sms(self, payload: Any, headers: dict[str, str]) -> JSONResponse:
        if not isinstance(payload, dict):
            return _error("InvalidParameter", "Body must be a JSON object.")
        numbers = payload.get("PhoneNumberSet")
        if not isinstance(numbers, list) or not 1 <= len(numbers) <= 200:
            return _error("InvalidParameterValue.IncorrectPhoneNumber", "PhoneNumberSet must hold 1-200 numbers.")
        if payload.get("SmsSdkAppId") != self.sdk_app_id:
            return _error("InvalidParameterValue.SdkAppIdNotExist", "SdkAppId does not exist.")
        if payload.get("SignName") not in self.sign_names:
            return _error("FailedOperation.SignatureIncorrectOrUnapproved", "Signature is incorrect or unapproved.")
        template_id = payload.get("TemplateId")
        if template_id not in self.templates:
            return _error("FailedOperation.TemplateIncorrectOrUnapproved", "Template is incorrect or unapproved.")
        params = payload.get("TemplateParamSet", [])
        if not isinstance(params, list) or len(params) != self.templates[template_id] or not all(isinstance(p, str) for p in params):
            return _error("InvalidParameterValue.TemplateParameterFormatError", "TemplateParamSet does not match the template.")
        now = self.clock.now()
        statuses = []
        for number in numbers:
            if not isinstance(number, str) or not E164.match(number):
                code, message = "InvalidParameterValue.IncorrectPhoneNumber", "invalid number"
            elif number in self.blacklist:
                code, message = "FailedOperation.PhoneNumberInBlacklist", "number is in the blacklist"
            elif not self.per_number.allow(number, now):
                code, message = "LimitExceeded.PhoneNumberThirtySecondLimit", "too many messages to this number in 30 s"
            else:
                code, message = "Ok", "send success"
                self.record(number, payload, headers)
            statuses.append({
                "SerialNo": str(uuid.uuid4()) if code == "Ok" else "", "PhoneNumber": str(number), "Fee": 1 if code == "Ok" else 0,
                "SessionContext": payload.get("SessionContext", ""), "Code": code, "Message": message, "IsoCode": "CN",
            })  # fmt: skip
        return JSONResponse({"Response": {"SendStatusSet": statuses, "RequestId": str(uuid.uuid4())}})
