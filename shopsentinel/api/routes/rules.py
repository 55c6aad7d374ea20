"""The rule pack: read, replace (validated; every save is a new version), list versions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, HTTPException, status
from pydantic import BaseModel, ValidationError

from shopsentinel.api.deps import DbSession, Editor, Now, Reader, ServiceDep
from shopsentinel.api.schemas import RulePackPublic, RulePackVersion
from shopsentinel.detect.rules import RulePack
from shopsentinel.store.repository import audit, rule_pack_versions, save_rule_pack

router = APIRouter(prefix="/api/v1/rules", tags=["rules"])


class RuleSourcePublic(BaseModel):
    """Where the pack in effect comes from (SHOPSENTINEL_RULES_SOURCE against versions saved in the web)."""

    setting: str  # auto | file | web
    source: str  # web | file | builtin
    version: int
    file: str | None
    read_only: bool  # rules_source=file: PUT is refused
    reason: str
    message: str
    message_en: str


class RulePackWithSource(RulePackPublic):
    source: RuleSourcePublic


def _source(service: Any) -> RuleSourcePublic:
    return RuleSourcePublic.model_validate(service.rules.origin().public())


def _field(loc: tuple[int | str, ...]) -> str:
    # pydantic names union members and validators in the path ("Condition", "function-after[...]")
    parts = [str(p) for p in loc if not (isinstance(p, str) and (p in ("Condition", "Compound") or "[" in p))]
    return ".".join(parts) or "(pack)"


@router.get("", response_model=RulePackWithSource)
def get_rules(service: ServiceDep, _reader: Reader) -> RulePackWithSource:
    pack = service.rules.current()
    return RulePackWithSource(version=service.rules.version(), pack=pack.model_dump(mode="json", by_alias=True, exclude_none=True),
                              source=_source(service))


@router.get("/source", response_model=RuleSourcePublic)
def get_source(service: ServiceDep, _reader: Reader) -> RuleSourcePublic:
    """Which pack is in effect and why (rules_source, the rules file, the newest saved version)."""
    return _source(service)


@router.get("/versions", response_model=list[RulePackVersion])
def versions(session: DbSession, _reader: Reader) -> list[RulePackVersion]:
    """Every saved pack, newest first (version 0 is the built-in or configured file)."""
    return [RulePackVersion(version=r.version, created_by=r.created_by, created_at=r.created_at, rules=len(r.body.get("rules", [])))
            for r in rule_pack_versions(session)]


@router.put("", response_model=RulePackPublic, responses={409: {"description": "rules_source=file: the rule file wins"}})
def put_rules(service: ServiceDep, session: DbSession, principal: Editor, now: Now,
              body: dict[str, Any] = Body(description="a rule pack: {version?, rules: [...]}, the YAML schema as JSON")) -> RulePackPublic:
    if service.rules.read_only:
        origin = service.rules.origin()
        raise HTTPException(status.HTTP_409_CONFLICT, f"规则只读 / the rules are read-only: {origin.text('zh')} / {origin.text('en')}")
    try:
        pack = RulePack.model_validate(body)
    except ValidationError as exc:
        detail = [{"field": _field(tuple(e["loc"])), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail) from None
    seen: set[str] = set()
    for i, rule in enumerate(pack.rules):
        if rule.id in seen:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                [{"field": f"rules.{i}.id", "msg": f"rule id {rule.id!r} is used twice", "type": "duplicate"}])
        seen.add(rule.id)
    stored = pack.model_dump(mode="json", by_alias=True, exclude_none=True)
    row = save_rule_pack(session, stored, principal.user, now)
    audit(session, principal.user, "rules.replace", f"rule_pack/{row.version}", now, rules=len(pack.rules))
    session.commit()
    service.rules.replace(row.version, pack)
    return RulePackPublic(version=row.version, pack=stored)
