"""A fake Aliyun RPC gateway for ``SendSms`` (Dysmsapi) and ``SingleCallByTts`` (Dyvmsapi).

Gateway checks (HTTP 4xx, PLATFORMS.md §11): unknown AccessKeyId → 404
``InvalidAccessKeyId.NotFound``; Timestamp more than 15 minutes off → 400
``InvalidTimeStamp.Expired``; reused SignatureNonce → 400 ``SignatureNonceUsed``; wrong V2
signature → 400 ``SignatureDoesNotMatch`` (with the server's string to sign, as Aliyun does).
Business checks answer HTTP 200 with ``isv.*`` codes, including per-number flow control
(``isv.BUSINESS_LIMIT_CONTROL``, 1 per minute by default).
"""

from __future__ import annotations

import hmac
import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shopsentinel.core.clock import Clock, SystemClock
from shopsentinel.notify.channels.aliyun_signing import sign_rpc_v2, string_to_sign
from shopsentinel.sim.channels.common import FakeBase, SlidingWindowLimit, injected_fault

TIMESTAMP_WINDOW = timedelta(minutes=15)
VERSION = "2017-05-25"
MAINLAND_MOBILE = re.compile(r"^(\+?86)?1\d{10}$")
REQUIRED_COMMON = ("AccessKeyId", "Action", "Format", "SignatureMethod", "SignatureNonce", "SignatureVersion",
                   "Timestamp", "Version", "Signature")  # fmt: skip


def _answer(code: str, message: str, status: int = 200, **extra: Any) -> JSONResponse:
    body = {"Code": code, "Message": message, "RequestId": str(uuid.uuid4()).upper(), **extra}
    return JSONResponse(body, status_code=status)


class FakeAliyun(FakeBase):
    """``access_keys`` maps AccessKeyId → AccessKeySecret; ``templates`` maps an SMS template code
    (or a TTS code) to the variable names it needs; ``sign_names`` are the approved SMS signatures."""

    def __init__(
        self,
        access_keys: dict[str, str],
        *,
        templates: dict[str, set[str]],
        sign_names: set[str],
        clock: Clock | None = None,
        per_number_per_minute: int = 1,
    ) -> None:
        super().__init__(clock or SystemClock())
        self.access_keys = access_keys
        self.templates = templates
        self.sign_names = sign_names
        self.used_nonces: set[str] = set()
        self.flow_control = SlidingWindowLimit(per_number_per_minute, timedelta(minutes=1))
        self.actions: dict[str, Callable[[dict[str, str]], JSONResponse]] = {
            "SendSms": self._send_sms,
            "SingleCallByTts": self._single_call_by_tts,
        }
        self.app = Starlette(routes=[Route("/", self.rpc, methods=["GET", "POST"])])

    def _gateway_problem(self, method: str, params: dict[str, str]) -> JSONResponse | None:
        missing = [name for name in REQUIRED_COMMON if not params.get(name)]
        if missing:
            return _answer(f"Missing{missing[0]}", f"{missing[0]} is mandatory for this action.", 400)
        secret = self.access_keys.get(params["AccessKeyId"])
        if secret is None or self.faults.reject_credentials:
            return _answer("InvalidAccessKeyId.NotFound", "Specified access key is not found.", 404)
        if params["SignatureMethod"] != "HMAC-SHA1" or params["SignatureVersion"] != "1.0":
            return _answer("InvalidParameter", "SignatureMethod/SignatureVersion not supported.", 400)
        try:
            sent_at = datetime.strptime(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            return _answer("InvalidTimeStamp.Format", "Specified time stamp is not valid.", 400)
        if abs(self.clock.now() - sent_at) > TIMESTAMP_WINDOW:
            return _answer("InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.", 400)
        if not hmac.compare_digest(sign_rpc_v2(method, params, secret), params["Signature"]):
            server_string = string_to_sign(method, params)
            message = f"Specified signature is not matched with our calculation. server string to sign is:{server_string}"
            return _answer("SignatureDoesNotMatch", message, 400)
        if params["SignatureNonce"] in self.used_nonces:
            return _answer("SignatureNonceUsed", "Specified signature nonce was used already.", 400)
        self.used_nonces.add(params["SignatureNonce"])
        if params["Version"] != VERSION or params["Action"] not in self.actions:
            return _answer("InvalidAction.NotFound", "Specified api is not found, please check your url and method.", 404)
        return None

    async def rpc(self, request: Request) -> Response:
        self.requests_seen += 1
        fault = await injected_fault(request, self.faults)
        if fault is not None:
            return fault
        params = dict(request.query_params)
        if request.method == "POST" and request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            params.update({k: str(v) for k, v in (await request.form()).items()})
        problem = self._gateway_problem(request.method, params)
        if problem is not None:
            return problem
        return self.actions[params["Action"]](params)

    def _template_problem(self, code: str, raw: str | None) -> JSONResponse | None:
        try:
            values = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            return _answer("isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            return _answer("isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
        if not self.templates[code] <= set(values):
            return _answer("isv.TEMPLATE_MISSING_PARAMETERS", "模板缺少变量")
        return None

    def _send_sms(self, params: dict[str, str]) -> JSONResponse:
        numbers = [n for n in params.get("PhoneNumbers", "").split(",") if n]
        if not numbers or not all(MAINLAND_MOBILE.match(n) for n in numbers):
            return _answer("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
        if params.get("SignName") not in self.sign_names:
            return _answer("isv.SMS_SIGNATURE_ILLEGAL", "该账号下找不到对应签名")
        if params.get("TemplateCode") not in self.templates:
            return _answer("isv.SMS_TEMPLATE_ILLEGAL", "该账号下找不到对应模板")
        problem = self._template_problem(params["TemplateCode"], params.get("TemplateParam"))
        if problem is not None:
            return problem
        now = self.clock.now()
        if not all([self.flow_control.allow(f"sms:{n}", now) for n in numbers]):
            return _answer("isv.BUSINESS_LIMIT_CONTROL", "触发号码天级流控Permits:10")
        self.record(params["AccessKeyId"], params)
        return _answer("OK", "OK", BizId=f"{uuid.uuid4().int % 10**18}^0")

    def _single_call_by_tts(self, params: dict[str, str]) -> JSONResponse:
        number = params.get("CalledNumber", "")
        if not MAINLAND_MOBILE.match(number) or "," in number:
            return _answer("isv.MOBILE_NUMBER_ILLEGAL", "号码格式非法")
        if params.get("TtsCode") not in self.templates:
            return _answer("isv.TTS_TEMPLATE_ILLEGAL", "TTS模板不存在")
        tts_param = params.get("TtsParam")
        if tts_param and len(tts_param) >= 250:
            return _answer("isv.PARAM_LENGTH_LIMIT", "TtsParam 超过 250 个字符")
        problem = self._template_problem(params["TtsCode"], tts_param)
        if problem is not None:
            return problem
        if params.get("PlayTimes") and params["PlayTimes"] not in ("1", "2", "3"):
            return _answer("isv.InvalidParameter", "PlayTimes 取值 1-3")
        if not self.flow_control.allow(f"voice:{number}", self.clock.now()):
            return _answer("isv.BUSINESS_LIMIT_CONTROL", "触发号码分钟级流控")
        self.record(params["AccessKeyId"], params)
        return _answer("OK", "OK", CallId=f"{uuid.uuid4().int % 10**12}^{uuid.uuid4().int % 10**12}")
