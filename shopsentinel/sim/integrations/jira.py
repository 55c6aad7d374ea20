"""Fake Jira Cloud: ``POST /rest/api/3/issue`` with basic auth (e-mail : API token) and an Atlassian
Document Format description, answering 201 ``{id, key, self}`` like the real one.

``app.state.outage`` > 0 answers that many requests with 503 (then recovers), to test retries.
"""

from __future__ import annotations

import base64
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def _adf_errors(doc: Any) -> list[str]:
    if not isinstance(doc, dict) or doc.get("type") != "doc" or doc.get("version") != 1:
        return ["description must be an ADF document (type doc, version 1)"]
    content = doc.get("content")
    if not isinstance(content, list) or not content:
        return ["description.content must be a non-empty list"]
    errors = []
    for block in content:
        if not isinstance(block, dict) or block.get("type") not in ("paragraph", "heading", "bulletList", "codeBlock"):
            errors.append(f"unsupported block {block!r:.60}")
    return errors


def create_jira_app(*, email: str, api_token: str, projects: tuple[str, ...] = ("OPS",)) -> Starlette:
    expected = "Basic " + base64.b64encode(f"{email}:{api_token}".encode()).decode()

    async def create_issue(request: Request) -> JSONResponse:
        state = request.app.state
        state.requests += 1
        if state.outage > 0:
            state.outage -= 1
            return JSONResponse({"errorMessages": ["Service unavailable"]}, status_code=503)
        if request.headers.get("authorization") != expected:
            return JSONResponse({"errorMessages": ["Client must be authenticated to access this resource."]}, status_code=401)
        body = await request.json()
        fields = body.get("fields") if isinstance(body, dict) else None
        errors: dict[str, str] = {}
        if not isinstance(fields, dict):
            return JSONResponse({"errorMessages": ["fields is required"], "errors": {}}, status_code=400)
        if fields.get("project", {}).get("key") not in projects:
            errors["project"] = "valid project is required"
        summary = fields.get("summary")
        if not isinstance(summary, str) or not summary or len(summary) > 255 or "\n" in summary:
            errors["summary"] = "summary must be one line under 255 characters"
        if not fields.get("issuetype", {}).get("name"):
            errors["issuetype"] = "issue type is required"
        adf = _adf_errors(fields.get("description"))
        if adf:
            errors["description"] = "; ".join(adf)
        if errors:
            return JSONResponse({"errorMessages": [], "errors": errors}, status_code=400)
        number = len(state.issues) + 1
        key = f"{fields['project']['key']}-{number}"
        state.issues.append({"key": key, **fields})
        return JSONResponse({"id": str(10000 + number), "key": key, "self": f"{request.base_url}rest/api/3/issue/{10000 + number}"},
                            status_code=201)

    app = Starlette(routes=[Route("/rest/api/3/issue", create_issue, methods=["POST"])])
    app.state.issues = []
    app.state.outage = 0
    app.state.requests = 0
    return app


__all__ = ["create_jira_app"]
