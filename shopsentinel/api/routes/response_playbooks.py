"""Response loop, part two: the playbook document, runs, manual triggers and approvals."""

from __future__ import annotations

import json
from typing import Any

import yaml
from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel, ValidationError

from shopsentinel.actions.model import PlaybookDocument
from shopsentinel.actions.runner import (
    ApprovalError,
    approve,
    latest_document_row,
    list_runs,
    masked_document,
    open_document,
    run_steps,
    save_document,
    start_run,
)
from shopsentinel.alerting import repository as alerts
from shopsentinel.api.deps import Admin, DbSession, Editor, Now, Reader, RowId, ServiceDep
from shopsentinel.store.repository import audit
from shopsentinel.store.response_state import PlaybookRunRow, PlaybookStepRow

router = APIRouter(prefix="/api/v1", tags=["playbooks"])


def run_public(run: PlaybookRunRow, steps: list[PlaybookStepRow]) -> dict[str, Any]:
    return {
        "id": run.id, "playbook": run.playbook, "alert_id": run.alert_id, "state": run.state, "dry_run": run.dry_run,
        "step": run.step, "started_at": f"{run.started_at:%Y-%m-%dT%H:%M:%SZ}",
        "updated_at": f"{run.updated_at:%Y-%m-%dT%H:%M:%SZ}", "locked": run.context.get("shared", {}).get("locked"),
        "steps": [{"index": s.index, "name": s.name, "action": s.action, "state": s.state, "owner": s.owner,
                   "deadline_at": f"{s.deadline_at:%Y-%m-%dT%H:%M:%SZ}" if s.deadline_at else None,
                   "approved_by": s.approved_by, "attempts": s.attempts, "error": s.error, "result": s.result,
                   "action_key": s.action_key} for s in steps],
    }


@router.get("/playbooks")
def get_playbooks(session: DbSession, _reader: Reader) -> dict[str, Any]:
    """The current playbook document with every secret masked."""
    return masked_document(latest_document_row(session))


@router.put("/playbooks")
async def put_playbooks(request: Request, service: ServiceDep, principal: Admin, now: Now) -> dict[str, Any]:
    """Replace the document (JSON, or YAML with a ``yaml`` content type). A secret sent back as
    ``********`` keeps its stored value; secrets are stored encrypted."""
    raw_text = (await request.body()).decode("utf-8")
    try:
        raw = yaml.safe_load(raw_text) if "yaml" in request.headers.get("content-type", "") else json.loads(raw_text or "{}")
    except (ValueError, yaml.YAMLError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"not valid JSON/YAML: {exc}") from exc
    try:  # a masked secret (********) validates like any value; save_document keeps the stored one
        document = PlaybookDocument.model_validate(raw)
    except ValidationError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]) from exc
    box = service.response.box()
    with service.sessions() as session:
        row = save_document(session, document, raw, box, principal.user, now)
        audit(session, principal.user, "playbooks.update", f"version {row.version}", now,
              playbooks=[p.id for p in document.playbooks])
        session.commit()
        return masked_document(row)


@router.get("/playbook-runs")
def get_runs(session: DbSession, _reader: Reader, state: str | None = None, alert_id: str | None = None,
             limit: int = Query(default=200, ge=1, le=2000)) -> dict[str, Any]:
    return {"items": [run_public(r, s) for r, s in list_runs(session, state=state, alert_id=alert_id, limit=limit)]}


class TriggerIn(BaseModel):
    playbook: str
    alert_id: str
    dry_run: bool | None = None


@router.post("/playbook-runs")
def trigger(body: TriggerIn, session: DbSession, service: ServiceDep, principal: Editor, now: Now) -> dict[str, Any]:
    """Start a playbook for an alert by hand; the same alert and playbook never get a second run."""
    row = latest_document_row(session)
    document = open_document(row, service.response.box()) if row else PlaybookDocument()
    playbook = next((p for p in document.playbooks if p.id == body.playbook), None)
    if playbook is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no playbook {body.playbook!r}")
    alert = alerts.get_alert(session, body.alert_id)
    if alert is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alert {body.alert_id!r}")
    run, created = start_run(session, playbook, alert, now, dry_run=body.dry_run)
    if created:
        audit(session, principal.user, "playbook.trigger", alert.id, now, playbook=playbook.id, run=run.id)
    session.commit()
    return {"created": created, "run": run_public(run, run_steps(session, run))}


class ApproveIn(BaseModel):
    step: int | None = None


@router.post("/playbook-runs/{run_id}/approve")
def approve_step(run_id: RowId, session: DbSession, principal: Reader, now: Now, body: ApproveIn | None = None) -> dict[str, Any]:
    """Approve the waiting step (the caller must hold the step owner's duty); the next tick acts."""
    try:
        approve(session, run_id, principal.user, now, body.step if body else None)
    except ApprovalError as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    session.commit()
    run = session.get(PlaybookRunRow, run_id)
    if run is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no playbook run {run_id}")
    return run_public(run, run_steps(session, run))


__all__ = ["router"]
