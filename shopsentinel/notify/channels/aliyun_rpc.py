"""One signed Aliyun RPC call and the classification of its answer (shared by SMS and voice).

Gateway failures come with HTTP 4xx/5xx and a JSON ``Code`` (``SignatureDoesNotMatch``,
``InvalidAccessKeyId.NotFound``, ``InvalidTimeStamp.Expired``, ``Throttling.User``); business
failures come with HTTP 200 and ``Code`` other than ``OK`` (``isv.BUSINESS_LIMIT_CONTROL`` is
per-number flow control and worth retrying later; the other ``isv.*`` codes are not).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr

from shopsentinel.core.clock import Clock
from shopsentinel.core.errors import PermanentDeliveryError, RecoverableDeliveryError
from shopsentinel.notify.channels._http import json_body, raise_for_http_status, send_request
from shopsentinel.notify.channels.aliyun_signing import common_params, sign_rpc_v2

FLOW_CONTROL_RETRY_SECONDS = 60.0
RECOVERABLE_CODE_PREFIXES = ("Throttling", "ServiceUnavailable", "InternalError", "isv.BUSINESS_LIMIT_CONTROL")


class AliyunCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    access_key_id: str
    access_key_secret: SecretStr
    region_id: str = "cn-hangzhou"
    timeout_seconds: float = 10.0


def classify_business_code(code: str, message: str) -> RecoverableDeliveryError | PermanentDeliveryError:
    if code.startswith(RECOVERABLE_CODE_PREFIXES):
        retry = FLOW_CONTROL_RETRY_SECONDS if "LIMIT_CONTROL" in code or code.startswith("Throttling") else None
        return RecoverableDeliveryError(message, retry_after=retry)
    return PermanentDeliveryError(message)


async def call_rpc(
    client: httpx.AsyncClient,
    channel: str,
    endpoint: str,
    credentials: AliyunCredentials,
    *,
    action: str,
    version: str,
    business: dict[str, str],
    clock: Clock,
    new_nonce: Callable[[], str] = lambda: uuid.uuid4().hex,
) -> dict[str, Any]:
    """POST a signed V2 request (parameters in the query) and return the ``Code == "OK"`` body."""
    params = common_params(
        action=action,
        version=version,
        access_key_id=credentials.access_key_id,
        region_id=credentials.region_id,
        nonce=new_nonce(),
        moment=clock.now(),
    )
    params.update(business)
    params["Signature"] = sign_rpc_v2("POST", params, credentials.access_key_secret.get_secret_value())
    response = await send_request(
        client, channel, "POST", endpoint.rstrip("/") + "/", timeout=credentials.timeout_seconds, params=params
    )
    body = json_body(response, channel)
    code = str(body.get("Code", ""))
    message = f"{channel}: {code or 'no Code'} {body.get('Message', '')}".strip()
    if response.is_success and code == "OK":
        return body
    if not response.is_success and not code.startswith(RECOVERABLE_CODE_PREFIXES):
        raise_for_http_status(response, channel, message)
    raise classify_business_code(code, message)
