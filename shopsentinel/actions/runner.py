"""Playbook runs: start one run per (playbook, alert), advance its steps on the service clock.

Idempotence: a run's key is ``playbook|alert`` (unique), each step's action key is
``run-key|step-index|alert`` (unique), and a step acts only from ``pending``/``retry`` and is
committed as ``done`` right after it acted — a second trigger of the same alert, or a second tick,
does not act again. Every action (and every dry run) is written to the audit log.

Platform locks (``lock_item``): a run that ends with its lock still held — the alert was
acknowledged in time, so the restore and unlock steps were skipped — keeps the item locked (the
operator who acknowledged takes over and fixes the price first) and says so in the audit
(``playbook.lock_item.kept``). A lock held by another run on the same SKU is adopted, not taken again.

Step states: ``pending`` → (``waiting_approval`` | ``waiting``) → ``done`` | ``skipped`` |
``retry`` (recoverable failure, tried again with backoff) | ``failed``; a run is ``running``,
``done`` or ``failed``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import anyio
import httpx
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shopsentinel.actions.base import ActionContext, ActionFailed, FrameLoader
from shopsentinel.actions.model import MASK, Playbook, PlaybookDocument, StepSpec, walk_secrets
from shopsentinel.actions.registry import ACTIONS
from shopsentinel.core.secrets import SecretBox
from shopsentinel.detect.rules import RulePack, default_rules
from shopsentinel.store.repository import audit, latest_rule_pack
from shopsentinel.store.response_state import PlaybookRow, PlaybookRunRow, PlaybookStepRow, RcaNoteRow
from shopsentinel.store.state import AlertRow, UserRow

logger = logging.getLogger(__name__)
MAX_ATTEMPTS = 6
BACKOFF = timedelta(minutes=1)
LOOKBACK = timedelta(days=2)
ACTOR = "playbook"


class ApprovalError(Exception):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


# --- the stored document ------------------------------------------------------------------------

def save_document(session: Session, document: PlaybookDocument, raw: dict[str, Any], box: SecretBox, actor: str,
                  now: datetime) -> PlaybookRow:
    """Store a new version; secrets are sealed, a masked secret keeps the stored value."""
    previous = latest_document_row(session)
    plain = _plain(document.model_dump(exclude_none=True))
    plain = _merge_masked(plain, raw, previous.body if previous else {})
    sealed = walk_secrets(plain, lambda v: v if v.startswith("enc:") else box.seal(v))
    version = (session.scalar(select(func.max(PlaybookRow.version))) or 0) + 1
    row = PlaybookRow(version=version, body=sealed, created_by=actor, created_at=now)
    session.add(row)
    session.flush()
    return row


def _plain(value: Any) -> Any:
    """The document as JSON-ready values with secrets in clear (sealed right after)."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _merge_masked(plain: Any, raw: Any, previous: Any) -> Any:
    """Where the submitted document says ``********``, keep the previously stored (sealed) value."""
    if isinstance(plain, dict) and isinstance(raw, dict):
        out = {}
        for key, value in plain.items():
            sent = raw.get(key)
            before = previous.get(key) if isinstance(previous, dict) else None
            if sent == MASK and isinstance(before, str):
                out[key] = before
            else:
                out[key] = _merge_masked(value, sent, before)
        return out
    if isinstance(plain, list) and isinstance(raw, list):
        prev = previous if isinstance(previous, list) else []
        return [_merge_masked(v, raw[i] if i < len(raw) else None, prev[i] if i < len(prev) else None)
                for i, v in enumerate(plain)]
    return plain


def latest_document_row(session: Session) -> PlaybookRow | None:
    return session.scalars(select(PlaybookRow).order_by(PlaybookRow.version.desc()).limit(1)).first()


def open_document(row: PlaybookRow, box: SecretBox) -> PlaybookDocument:
    plain = walk_secrets(row.body, lambda v: box.open(v) if v.startswith("enc:") else v)
    return PlaybookDocument.model_validate(plain)


def masked_document(row: PlaybookRow | None) -> dict[str, Any]:
    if row is None:
        return {"version": 0, "document": {"integrations": {}, "playbooks": []}}
    return {"version": row.version, "created_by": row.created_by, "document": walk_secrets(row.body, lambda _v: MASK)}


# --- runs ---------------------------------------------------------------------------------------

def alert_snapshot(alert: AlertRow) -> dict[str, Any]:
    return {"id": alert.id, "rule": alert.rule, "severity": alert.severity, "category": alert.category,
            "platform": alert.platform, "store": alert.store, "sku": alert.sku, "metric": alert.metric,
            "value": alert.value, "expected": alert.expected, "message": alert.message,
            "starts_at": f"{alert.starts_at:%Y-%m-%dT%H:%M:%SZ}"}


def start_run(session: Session, playbook: Playbook, alert: AlertRow, now: datetime, *,
              dry_run: bool | None = None) -> tuple[PlaybookRunRow, bool]:
    """The run of ``playbook`` for ``alert``: the existing one, or a new one (second value True)."""
    dry = playbook.dry_run if dry_run is None else dry_run
    key = f"{playbook.id}|{alert.id}" + ("|dry" if dry else "")
    existing = session.scalars(select(PlaybookRunRow).where(PlaybookRunRow.key == key)).first()
    if existing is not None:
        return existing, False
    run = PlaybookRunRow(playbook=playbook.id, alert_id=alert.id, key=key, state="running", dry_run=dry, step=0,
                         context={"alert": alert_snapshot(alert), "playbook": playbook.model_dump(mode="json")},
                         started_at=now, updated_at=now)
    session.add(run)
    session.flush()
    for index, spec in enumerate(playbook.steps):
        session.add(PlaybookStepRow(
            run_id=run.id, index=index, name=spec.name, action=spec.action, action_key=f"{key}|{index}|{alert.id}",
            state="pending", owner=spec.owner,
            deadline_at=now + timedelta(minutes=spec.deadline_minutes) if spec.deadline_minutes else None,
            wait_until=now + timedelta(minutes=spec.unless_acked_within_minutes)
            if spec.unless_acked_within_minutes is not None else None,
            result={}, updated_at=now))
    audit(session, ACTOR, "playbook.start", alert.id, now, playbook=playbook.id, run=run.id, dry_run=dry)
    session.flush()
    return run, True


def start_matching_runs(session: Session, document: PlaybookDocument, now: datetime, limit: int = 500) -> int:
    """Start runs for firing business alerts that match a playbook and have none yet."""
    if not any(p.enabled for p in document.playbooks):
        return 0
    alerts = session.scalars(select(AlertRow).where(AlertRow.state == "firing", AlertRow.kind == "business",
                                                    AlertRow.starts_at >= now - LOOKBACK)
                             .order_by(AlertRow.starts_at).limit(limit)).all()
    started = 0
    for alert in alerts:
        for playbook in document.matching(alert.rule, alert.severity, alert.category, alert.platform, alert.store):
            _, created = start_run(session, playbook, alert, now)
            started += created
    return started


def run_steps(session: Session, run: PlaybookRunRow) -> list[PlaybookStepRow]:
    return list(session.scalars(select(PlaybookStepRow).where(PlaybookStepRow.run_id == run.id)
                                .order_by(PlaybookStepRow.index)).all())


def list_runs(session: Session, *, state: str | None = None, alert_id: str | None = None,
              limit: int = 200) -> list[tuple[PlaybookRunRow, list[PlaybookStepRow]]]:
    query = select(PlaybookRunRow)
    if state:
        query = query.where(PlaybookRunRow.state == state)
    if alert_id:
        query = query.where(PlaybookRunRow.alert_id == alert_id)
    runs = list(session.scalars(query.order_by(PlaybookRunRow.id.desc()).limit(limit)).all())
    return [(r, run_steps(session, r)) for r in runs]


def approve(session: Session, run_id: int, user: str, now: datetime, step_index: int | None = None) -> PlaybookStepRow:
    """Approve the run's waiting step; only a user holding the step owner's duty may."""
    run = session.get(PlaybookRunRow, run_id)
    if run is None:
        raise ApprovalError(f"no playbook run {run_id}", 404)
    waiting = [s for s in run_steps(session, run) if s.state == "waiting_approval"
               and (step_index is None or s.index == step_index)]
    if not waiting:
        raise ApprovalError("no step of this run waits for an approval", 409)
    step = waiting[0]
    person = session.scalars(select(UserRow).where(UserRow.username == user, UserRow.active.is_(True))).first()
    if person is None or step.owner not in (person.duties or []):
        raise ApprovalError(f"approving step {step.name!r} needs the duty {step.owner!r}", 403)
    step.approved_by, step.state, step.updated_at = user, "pending", now
    audit(session, user, "playbook.approve", run.alert_id, now, run=run.id, step=step.index, action_key=step.action_key)
    return step


# --- advancing --------------------------------------------------------------------------------

@dataclass
class PlaybookEngine:
    """Advances runs; ``transport`` lets tests put the fakes behind httpx (None = the network).

    ``rules`` gives the actions the service's active rule pack (``Service.rules.current``); unset,
    the newest saved pack in the database is used, else the built-in one.
    """

    transport: httpx.AsyncBaseTransport | None = None
    timeout_seconds: float = 10.0
    rules: Callable[[], RulePack] | None = None

    def tick(self, sessions: sessionmaker[Session], box: Callable[[], SecretBox], frames: FrameLoader,
             now: datetime) -> None:
        with sessions() as session:
            row = latest_document_row(session)
            if row is None:
                return
            document = open_document(row, box())
            start_matching_runs(session, document, now)
            session.commit()
        anyio.run(self._advance_all, sessions, document, frames, now)

    async def _advance_all(self, sessions: sessionmaker[Session], document: PlaybookDocument, frames: FrameLoader,
                           now: datetime) -> None:
        async with httpx.AsyncClient(transport=self.transport, timeout=self.timeout_seconds) as http:
            with sessions() as session:
                ids = list(session.scalars(select(PlaybookRunRow.id).where(PlaybookRunRow.state == "running")
                                           .order_by(PlaybookRunRow.id)).all())
            pack: list[RulePack] = []

            def rules() -> RulePack:  # read once per tick, and only when an action asks
                if not pack:
                    pack.append(self._rule_pack(sessions))
                return pack[0]

            for run_id in ids:
                with sessions() as session:
                    try:
                        await self._advance(session, run_id, document, http, frames, now, rules)
                    except Exception:  # one broken run must not stop the others
                        logger.exception("playbook run %s failed to advance", run_id)
                        session.rollback()

    def _rule_pack(self, sessions: sessionmaker[Session]) -> RulePack:
        if self.rules is not None:
            return self.rules()
        with sessions() as session:
            row = latest_rule_pack(session)
            return RulePack.model_validate(row.body) if row is not None else default_rules()

    async def _advance(self, session: Session, run_id: int, document: PlaybookDocument, http: httpx.AsyncClient,
                       frames: FrameLoader, now: datetime, rules: Callable[[], RulePack] | None = None) -> None:
        run = session.get(PlaybookRunRow, run_id)
        if run is None or run.state != "running":
            return
        playbook = Playbook.model_validate(run.context["playbook"])
        alert = session.get(AlertRow, run.alert_id)
        note = session.get(RcaNoteRow, run.alert_id)
        for step in run_steps(session, run):
            if step.state in ("done", "skipped", "dry_run"):
                continue
            spec = playbook.steps[step.index]
            run.step = step.index
            if step.state == "failed":
                break
            self._note_overdue(session, run, step, now)
            if spec.approval and step.approved_by is None:
                step.state = "waiting_approval"
                break
            if step.wait_until is not None:
                if alert is not None and alert.acked_at is not None and alert.acked_at <= step.wait_until:
                    step.state, step.result = "skipped", {"acknowledged_by": alert.acked_by,
                                                          "acknowledged_at": f"{alert.acked_at:%Y-%m-%dT%H:%M:%SZ}"}
                    audit(session, ACTOR, f"playbook.{step.action}.skipped", run.alert_id, now, run=run.id,
                          step=step.index, action_key=step.action_key, reason="acknowledged in time")
                    session.commit()
                    continue
                if now < step.wait_until:
                    step.state = "waiting"
                    break
            if step.next_attempt_at is not None and now < step.next_attempt_at:
                break
            if not await self._act(session, run, step, spec, document, http, frames, note, now, rules):
                break
        else:
            run.state = "done"
            self._note_kept_lock(session, run, alert, now)
        run.updated_at = now
        session.commit()

    def _note_overdue(self, session: Session, run: PlaybookRunRow, step: PlaybookStepRow, now: datetime) -> None:
        if step.deadline_at is not None and now > step.deadline_at and not step.result.get("overdue"):
            step.result = {**step.result, "overdue": True}
            audit(session, ACTOR, "playbook.overdue", run.alert_id, now, run=run.id, step=step.index, owner=step.owner)

    def _note_kept_lock(self, session: Session, run: PlaybookRunRow, alert: AlertRow | None, now: datetime) -> None:
        """A run that ends while its platform lock is held leaves the item locked: say so."""
        shared = dict(run.context.get("shared", {}))
        lock = shared.get("locked")
        if run.dry_run or not isinstance(lock, dict) or not lock.get("platform_locked") or lock.get("released") \
                or lock.get("kept"):
            return
        who = alert.acked_by if alert is not None and alert.acked_at is not None else ""
        reason = (f"acknowledged by {who}: they take over, the item stays locked at the platform (quantity 0) "
                  f"until they fix the price and restore {lock.get('previous_quantity')}" if who else
                  "the run ended without an unlock step: the item stays locked at the platform")
        shared["locked"] = {**lock, "kept": reason}
        run.context = {**run.context, "shared": shared}
        audit(session, ACTOR, "playbook.lock_item.kept", run.alert_id, now, run=run.id, sku=lock.get("sku", ""),
              previous_quantity=lock.get("previous_quantity"), reason=reason)

    def _platform_locks(self, session: Session, run: PlaybookRunRow) -> list[dict[str, Any]]:
        """Unreleased platform locks other (non-dry) runs hold on this run's SKU, newest first."""
        alert = run.context["alert"]
        if not alert.get("sku"):
            return []
        rows = session.execute(
            select(PlaybookStepRow, PlaybookRunRow).join(PlaybookRunRow, PlaybookRunRow.id == PlaybookStepRow.run_id)
            .where(PlaybookStepRow.action.in_(("lock_item", "unlock_item")), PlaybookStepRow.state == "done",
                   PlaybookRunRow.id != run.id, PlaybookRunRow.dry_run.is_(False))
            .order_by(PlaybookRunRow.id.desc()).limit(2000)).all()
        released = {int(r) for step, _ in rows if step.action == "unlock_item" for r in step.result.get("released_runs", [])}
        held = []
        for step, other in rows:
            lock = other.context.get("shared", {}).get("locked")
            if (step.action == "lock_item" and isinstance(lock, dict) and lock.get("platform_locked")
                    and not lock.get("released") and other.id not in released
                    and (lock.get("platform"), lock.get("store"), lock.get("sku"))
                    == (alert["platform"], alert["store"], alert["sku"])):
                held.append({"run": other.id, **lock})
        return held

    async def _act(self, session: Session, run: PlaybookRunRow, step: PlaybookStepRow, spec: StepSpec,
                   document: PlaybookDocument, http: httpx.AsyncClient, frames: FrameLoader, note: RcaNoteRow | None,
                   now: datetime, rules: Callable[[], RulePack] | None = None) -> bool:
        """Run (or dry-run) one step; True when the run may go on to the next step."""
        shared = dict(run.context.get("shared", {}))

        def checkpoint(partial: dict[str, Any]) -> None:
            step.result = {**step.result, **partial}
            session.commit()

        ctx = ActionContext(alert=run.context["alert"], run=shared, params=spec.params,
                            integrations=document.integrations, http=http, now=now, action_key=step.action_key,
                            frames=frames, playbook=run.playbook, rca_text=note.text_zh if note else "",
                            run_id=run.id, saved=dict(step.result), checkpoint=checkpoint, rules=rules,
                            platform_locks=self._platform_locks(session, run)
                            if step.action == "lock_item" and not run.dry_run else [])
        action = ACTIONS[step.action]
        step.attempts += 1
        if run.dry_run:
            step.state, step.result = "dry_run", {**step.result, **action.describe(ctx)}
            audit(session, ACTOR, f"playbook.{step.action}.dry_run", run.alert_id, now, run=run.id, step=step.index,
                  action_key=step.action_key)
            session.commit()
            return True
        try:
            result = await action.run(ctx)
        except ActionFailed as failure:
            step.error = str(failure)
            retry = failure.recoverable and step.attempts < MAX_ATTEMPTS
            step.state = "retry" if retry else "failed"
            step.next_attempt_at = now + BACKOFF * 2 ** (step.attempts - 1) if retry else None
            if not retry:
                run.state = "failed"
            audit(session, ACTOR, f"playbook.{step.action}.{'retry' if retry else 'failed'}", run.alert_id, now,
                  run=run.id, step=step.index, action_key=step.action_key, error=str(failure), attempt=step.attempts)
            session.commit()
            return False
        step.state, step.error, step.next_attempt_at = "done", "", None
        step.result = {**step.result, **result}
        run.context = {**run.context, "shared": shared}
        audit(session, ACTOR, f"playbook.{step.action}", run.alert_id, now, run=run.id, step=step.index,
              action_key=step.action_key, result=result)
        session.commit()
        return True


__all__ = [
    "ApprovalError",
    "PlaybookEngine",
    "approve",
    "latest_document_row",
    "list_runs",
    "masked_document",
    "open_document",
    "run_steps",
    "save_document",
    "start_matching_runs",
    "start_run",
]
