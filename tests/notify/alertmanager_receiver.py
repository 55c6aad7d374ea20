"""A receiver of Alertmanager webhooks for the tests: every payload is validated against a JSON Schema
written from Alertmanager's documented ``webhook_config`` payload, and the ``Authorization`` header is
checked, before it is recorded. Anything invalid is answered 400 with the schema errors and recorded in
``rejected`` (so a test sees why), never in ``received``.

The documented payload (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config)::

    {
      "version": "4",
      "groupKey": <string>,              // key identifying the group of alerts (e.g. to deduplicate)
      "truncatedAlerts": <int>,          // how many alerts have been truncated due to "max_alerts"
      "status": "<resolved|firing>",
      "receiver": <string>,
      "groupLabels": <object>,
      "commonLabels": <object>,
      "commonAnnotations": <object>,
      "externalURL": <string>,           // backlink to the Alertmanager.
      "alerts": [
        {
          "status": "<resolved|firing>",
          "labels": <object>,
          "annotations": <object>,
          "startsAt": "<rfc3339>",
          "endsAt": "<rfc3339>",
          "generatorURL": <string>,      // identifies the entity that caused the alert
          "fingerprint": <string>        // fingerprint to identify the alert
        },
        ...
      ]
    }

Label and annotation sets are maps of string to string whose names follow Prometheus' label name rule
(``[a-zA-Z_][a-zA-Z0-9_]*``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jsonschema import Draft202012Validator
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

RFC3339 = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"
LABEL_SET = {
    "type": "object",
    "propertyNames": {"pattern": "^[a-zA-Z_][a-zA-Z0-9_]*$"},
    "additionalProperties": {"type": "string"},
}

ALERTMANAGER_WEBHOOK_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$comment": "from https://prometheus.io/docs/alerting/latest/configuration/#webhook_config",
    "title": "Alertmanager webhook payload, version 4",
    "type": "object",
    "required": ["version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels", "commonLabels",
                 "commonAnnotations", "externalURL", "alerts"],
    "additionalProperties": False,
    "properties": {
        "version": {"const": "4"},
        "groupKey": {"type": "string", "minLength": 1},
        "truncatedAlerts": {"type": "integer", "minimum": 0},
        "status": {"enum": ["resolved", "firing"]},
        "receiver": {"type": "string", "minLength": 1},
        "groupLabels": LABEL_SET,
        "commonLabels": LABEL_SET,
        "commonAnnotations": LABEL_SET,
        "externalURL": {"type": "string"},
        "alerts": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"],
                "additionalProperties": False,
                "properties": {
                    "status": {"enum": ["resolved", "firing"]},
                    "labels": {**LABEL_SET, "required": ["alertname"]},
                    "annotations": LABEL_SET,
                    "startsAt": {"type": "string", "pattern": RFC3339},
                    "endsAt": {"type": "string", "pattern": RFC3339},
                    "generatorURL": {"type": "string"},
                    "fingerprint": {"type": "string", "minLength": 1},
                },
            },
        },
    },
}  # fmt: skip

VALIDATOR = Draft202012Validator(ALERTMANAGER_WEBHOOK_SCHEMA)
Draft202012Validator.check_schema(ALERTMANAGER_WEBHOOK_SCHEMA)


def payload_errors(document: Any) -> list[str]:
    """Why ``document`` is not a valid Alertmanager webhook payload (empty: it is)."""
    errors = [f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
              for e in VALIDATOR.iter_errors(document)]
    if errors:
        return errors
    for i, alert in enumerate(document["alerts"]):
        for name in ("startsAt", "endsAt"):
            try:
                datetime.fromisoformat(alert[name].replace("Z", "+00:00"))
            except ValueError:
                errors.append(f"alerts/{i}/{name}: not a valid RFC 3339 time")
        if alert["status"] == "firing" and alert["endsAt"] != "0001-01-01T00:00:00Z":
            errors.append(f"alerts/{i}/endsAt: a firing alert has no end")
    if document["status"] == "firing" and not any(a["status"] == "firing" for a in document["alerts"]):
        errors.append("status: firing without a firing alert")
    return errors


@dataclass
class AlertmanagerReceiver:
    """``POST /alerts``: validated payloads in ``received``; ``authorization`` is the header expected
    (None: none may be sent)."""

    authorization: str | None = None
    received: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[list[str]] = field(default_factory=list)

    @property
    def app(self) -> Starlette:
        return Starlette(routes=[Route("/alerts", self.receive, methods=["POST"])])

    async def receive(self, request: Request) -> Response:
        if request.headers.get("authorization") != self.authorization:
            self.rejected.append(["authorization header differs"])
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        if not request.headers.get("content-type", "").startswith("application/json"):
            self.rejected.append(["content-type is not application/json"])
            return JSONResponse({"error": "content type"}, status_code=415)
        try:
            document = json.loads(await request.body())
        except ValueError:
            self.rejected.append(["body is not JSON"])
            return JSONResponse({"error": "not JSON"}, status_code=400)
        errors = payload_errors(document)
        if errors:
            self.rejected.append(errors)
            return JSONResponse({"errors": errors}, status_code=400)
        self.received.append(document)
        return Response(status_code=200)
