"""Rules: list, enable/disable, the YAML editor with validation, versions and the backtest preview."""

from __future__ import annotations

from typing import Annotated

import yaml
from fastapi import APIRouter, Form, HTTPException, Request, status
from fastapi.responses import Response

from shopsentinel.core.errors import RuleError
from shopsentinel.detect.rules import RulePack, parse_rules
from shopsentinel.store.repository import (
    audit,
    calendar_events,
    list_stores,
    rule_pack_versions,
    save_rule_pack,
)
from shopsentinel.web.charts import bar_chart
from shopsentinel.web.core import Csrf, EditorUser, Viewer, Web, WebState, redirect, render
from shopsentinel.web.preview import PreviewResult, preview

router = APIRouter(include_in_schema=False)


def pack_yaml(pack: RulePack) -> str:
    """The pack as YAML for the editor: defaults left out (as people write rules) when that reads back
    to the same pack, else every field."""
    short = yaml.safe_dump(pack.model_dump(mode="json", by_alias=True, exclude_defaults=True),
                           allow_unicode=True, sort_keys=False, width=100)
    try:
        if parse_rules(short) == pack:
            return short
    except RuleError:
        pass
    return yaml.safe_dump(pack.model_dump(mode="json", by_alias=True, exclude_none=True),
                          allow_unicode=True, sort_keys=False, width=100)


def _save(web: WebState, pack: RulePack, actor: str, action: str) -> int:
    now = web.service.clock.now()
    with web.service.sessions() as session:
        stored = pack.model_dump(mode="json", by_alias=True, exclude_none=True)
        row = save_rule_pack(session, stored, actor, now)
        audit(session, actor, action, f"rule_pack/{row.version}", now, rules=len(pack.rules), via="web")
        session.commit()
        version = row.version
    web.service.rules.replace(version, pack)
    return version


def _page(request: Request, web: WebState, *, text: str | None = None, error: RuleError | None = None,
          result: PreviewResult | None = None, saved: int | None = None, status_code: int = 200,
          refused: bool = False) -> Response:
    pack = web.service.rules.current()
    origin = web.service.rules.origin()
    with web.service.sessions() as session:
        versions = [(v.version, v.created_by, v.created_at, len(v.body.get("rules", []))) for v in rule_pack_versions(session)[:20]]
    chart = None
    if result is not None:
        chart = bar_chart(result.days, [("current", [float(x) for x in result.current]),
                                        ("edited", [float(x) for x in result.edited])],
                          grouped=True, title="backtest preview", chart_id="preview-chart")
    return render(request, "rules.html", status_code=status_code, pack=pack, version=web.service.rules.version(),
                  text=text if text is not None else pack_yaml(pack), error=error, result=result, chart=chart,
                  versions=versions, saved=saved, origin=origin, origin_key=f"rules.origin.{origin.reason}", refused=refused)


@router.get("/rules")
def rules(request: Request, user: Viewer, web: Web) -> Response:
    saved = request.query_params.get("saved")
    return _page(request, web, saved=int(saved) if saved and saved.isdigit() else None)


@router.post("/rules")
def edit_rules(request: Request, user: EditorUser, _csrf: Csrf, web: Web, yaml_text: Annotated[str, Form(max_length=500_000)],
               action: Annotated[str, Form()] = "validate") -> Response:
    """``validate`` checks, ``preview`` backtests the changed rules over 30 days, ``save`` stores a new version."""
    try:
        edited = parse_rules(yaml_text, "editor")
    except RuleError as exc:
        return _page(request, web, text=yaml_text, error=exc, status_code=422)
    if action == "save":
        if web.service.rules.read_only:  # rules_source=file: the file wins, nothing is saved
            return _page(request, web, text=yaml_text, refused=True, status_code=409)
        version = _save(web, edited, user.username, "rules.replace")
        return redirect(request, f"/rules?saved={version}")
    result = None
    if action == "preview":
        service = web.service
        with service.sessions() as session:
            stores = list_stores(session)
            calendar = calendar_events(session)
            session.expunge_all()
        result = preview(service.points, stores, calendar, service.catalog, service.rules.current(), edited,
                         service.clock.now(), shard=service.settings.stores_per_shard)
    return _page(request, web, text=yaml_text, result=result)


@router.post("/rules/{rule_id}/toggle")
def toggle(rule_id: str, request: Request, user: EditorUser, _csrf: Csrf, web: Web) -> Response:
    if web.service.rules.read_only:
        return _page(request, web, refused=True, status_code=409)
    pack = web.service.rules.current()
    if rule_id not in {r.id for r in pack.rules}:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no rule {rule_id}")
    rules = [r.model_copy(update={"enabled": not r.enabled}) if r.id == rule_id else r for r in pack.rules]
    _save(web, RulePack(version=pack.version, rules=rules), user.username, "rules.toggle")
    return redirect(request, "/rules")
