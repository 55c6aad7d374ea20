"""HTTP plumbing every webhook/API channel shares: send, and classify what came back.

Messages never include the request URL: for DingTalk, WeCom, Feishu and Slack the URL *is* the
credential.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from shopsentinel.core.errors import PermanentDeliveryError, RecoverableDeliveryError

# The delivery loop sets this header (the outbox key) on its client; it is kept only for channels
# whose receivers dedupe by it. Same name as ``shopsentinel.notify.outbox.IDEMPOTENCY_HEADER``.
IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENT_CHANNELS = frozenset({"webhook"})


async def send_request(
    client: httpx.AsyncClient, channel: str, method: str, url: str, *, timeout: float, **request: Any
) -> httpx.Response:
    """Send, turning transport failures (timeouts, refused connections) into recoverable errors.

    ``request`` is passed to :meth:`httpx.AsyncClient.build_request` (``params``, ``json``,
    ``content``, ``headers``), so the client's own defaults still apply.
    """
    built = client.build_request(method, url, timeout=timeout, **request)
    if channel not in IDEMPOTENT_CHANNELS:
        built.headers.pop(IDEMPOTENCY_HEADER, None)
    try:
        return await client.send(built)
    except httpx.TimeoutException as exc:
        raise RecoverableDeliveryError(f"{channel}: timed out ({type(exc).__name__})") from None
    except httpx.TransportError as exc:
        raise RecoverableDeliveryError(f"{channel}: transport error ({type(exc).__name__})") from None


def retry_after_seconds(response: httpx.Response) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date), if the server sent one."""
    raw = response.headers.get("retry-after")
    if raw is None:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        moment = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:  # RFC 9110 dates are GMT
        moment = moment.replace(tzinfo=UTC)
    reference: datetime | None = None
    date_header = response.headers.get("date")
    if date_header:  # the server's own clock, so skew between the two does not matter
        try:
            reference = parsedate_to_datetime(date_header)
        except (TypeError, ValueError):
            reference = None
    if reference is None:
        reference = datetime.now(UTC)
    elif reference.tzinfo is None:
        reference = reference.replace(tzinfo=UTC)
    return max(0.0, (moment - reference).total_seconds())


def raise_for_http_status(response: httpx.Response, channel: str, detail: str = "") -> None:
    """429 and 5xx are recoverable (carrying ``Retry-After`` as ``retry_after``, e.g. on 429/503);
    any other non-2xx is permanent."""
    status = response.status_code
    if 200 <= status < 300:
        return
    suffix = f": {detail}" if detail else ""
    if status == 429 or status == 408 or status >= 500:
        raise RecoverableDeliveryError(f"{channel}: HTTP {status}{suffix}", retry_after=retry_after_seconds(response))
    raise PermanentDeliveryError(f"{channel}: HTTP {status}{suffix}")


def json_body(response: httpx.Response, channel: str) -> dict[str, Any]:
    """The response's JSON object; a non-JSON answer from a JSON API is a server fault."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise_for_http_status(response, channel, "non-JSON body")
        raise RecoverableDeliveryError(f"{channel}: HTTP {response.status_code} with a non-JSON body") from None
    if not isinstance(body, dict):
        raise PermanentDeliveryError(f"{channel}: unexpected response shape {type(body).__name__}")
    return body
