"""A receiver for the generic signed webhook (``POST /hook``): verifies as a customer would.

401 when the signature or timestamp does not check out (see
:func:`shopsentinel.notify.channels.webhook.verify_webhook_signature`), 204 when accepted.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from shopsentinel.core.clock import Clock, SystemClock
from shopsentinel.notify.channels.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookSignatureError,
    verify_webhook_signature,
)
from shopsentinel.sim.channels.common import FakeBase, injected_fault


class FakeWebhookReceiver(FakeBase):
    def __init__(self, secret: str, *, clock: Clock | None = None, tolerance_seconds: float = 300) -> None:
        super().__init__(clock or SystemClock())
        self.secret = secret
        self.tolerance_seconds = tolerance_seconds
        self.app = Starlette(routes=[Route("/hook", self.receive, methods=["POST"])])

    async def receive(self, request: Request) -> Response:
        self.requests_seen += 1
        fault = await injected_fault(request, self.faults)
        if fault is not None:
            return fault
        body = await request.body()
        try:
            document = verify_webhook_signature(
                self.secret, body,
                signature=request.headers.get(SIGNATURE_HEADER, ""),
                timestamp=request.headers.get(TIMESTAMP_HEADER, ""),
                now=self.clock.now(), tolerance_seconds=self.tolerance_seconds,
            )  # fmt: skip
        except (WebhookSignatureError, ValueError) as exc:
            return PlainTextResponse(f"rejected: {exc}", status_code=401)
        self.record("webhook", document, dict(request.headers))
        return Response(status_code=204)
