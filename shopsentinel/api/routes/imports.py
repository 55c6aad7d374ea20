"""Seller-console export upload: ``POST /api/v1/imports`` (multipart ``file`` + ``platform`` + ``store``).

The file (生意参谋, 京东商智, 抖店罗盘, 多多情报通, Amazon Business Reports; CSV or XLSX) is parsed
whole by :mod:`shopsentinel.sources.exports` before anything is written, so a malformed file is a
422 naming the file, row and column and stores nothing. Its points then take the ``POST /points``
write path. Export times are store-local: the store's registered time zone is used (the platform
default for a new store) unless the form gives ``timezone``.

With ``dry_run`` (form field, ``true``) nothing is written: the answer is the preview the web shows
before 确认导入 — which of the file's columns map to which metric, how many points and their sum per
metric, the first and last hour (UTC), and the points that would be refused (at most 5 examples).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, File, Form, HTTPException, UploadFile, status
from pydantic import BaseModel

from shopsentinel.api.deps import DbSession, Editor, Now, ServiceDep
from shopsentinel.core.errors import ImportFileError
from shopsentinel.core.types import DEFAULT_TIMEZONES
from shopsentinel.runtime.ingest import PointLimits, frame_to_raw, validate_points, write_points
from shopsentinel.sources.exports.preview import SUFFIXES, parse_upload
from shopsentinel.store.repository import get_store

router = APIRouter(prefix="/api/v1", tags=["imports"])


class MappedColumn(BaseModel):
    header: str
    metric: str
    points: int
    total: float


class ImportResult(BaseModel):
    file: str
    console: str
    rows: int
    hourly: bool
    accepted: int
    timezone: str
    unmapped_columns: list[str]
    dry_run: bool = False
    points: int = 0
    columns: list[MappedColumn] = []
    first: datetime | None = None
    last: datetime | None = None
    rejected: list[str] = []
    rejected_count: int = 0


def _unprocessable(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail)


@router.post("/imports", response_model=ImportResult)
def import_export(
    file: Annotated[UploadFile, File(description="CSV or XLSX seller-console export")],
    platform: Annotated[str, Form()],
    store: Annotated[str, Form()],
    service: ServiceDep,
    session: DbSession,
    principal: Editor,
    now: Now,
    timezone: Annotated[str | None, Form(description="IANA zone of the export's times")] = None,
    console: Annotated[str | None, Form(description="export layout; detected from the header if omitted")] = None,
    dry_run: Annotated[bool, Form(description="preview only: parse, map and check, write nothing")] = False,
) -> ImportResult:
    name = Path(file.filename or "upload.csv").name
    suffix = Path(name).suffix.lower()
    if suffix not in SUFFIXES:
        raise _unprocessable(f"{name}：只支持 .csv 或 .xlsx 文件 / file must end in .csv or .xlsx")
    most = service.settings.max_upload_bytes
    body = file.file.read(most + 1)
    if len(body) > most:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"{name}: 文件过大，上限 {most} 字节 / at most {most} bytes")
    known = get_store(session, platform, store)
    zone = timezone or (known.timezone if known else DEFAULT_TIMEZONES.get(platform, "UTC"))
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise _unprocessable(f"未知时区 {zone!r} / unknown time zone {zone!r}") from None
    try:
        parsed = parse_upload(name, body, platform=platform, store=store, timezone=zone, console=console)
    except ImportFileError as exc:
        raise _unprocessable(str(exc)) from None
    result = parsed.result
    points, rejected = validate_points(frame_to_raw(result.frame), service.catalog,
                                        PointLimits.from_settings(service.settings, now))
    answer = ImportResult(file=name, console=result.console, rows=result.rows, hourly=result.hourly, accepted=0,
                          timezone=zone, unmapped_columns=list(result.unmapped_columns), dry_run=dry_run,
                          points=result.frame.height, rejected_count=len(rejected),
                          rejected=[f"第 {r.index + 1} 个点 / point {r.index + 1}: {r.reason}" for r in rejected[:5]])
    if dry_run:
        frame, sums = result.frame, parsed.per_metric()
        answer.columns = [MappedColumn(header=h, metric=m, points=sums.get(m, (0, 0.0))[0], total=sums.get(m, (0, 0.0))[1])
                          for h, m in parsed.mapped]
        answer.first = frame["ts"].min() if frame.height else None  # type: ignore[assignment]
        answer.last = frame["ts"].max() if frame.height else None  # type: ignore[assignment]
        return answer
    if rejected:  # all or nothing, like the CLI import
        first = rejected[0]
        raise _unprocessable(f"{name}: {len(rejected)} 个点被拒绝，例如第 {first.index + 1} 个：{first.reason} / "
                             f"{len(rejected)} points rejected, e.g. point {first.index + 1}: {first.reason}")
    write_points(service, session, points, user=principal.user, now=now)
    service.metrics.count_points(len(points), 0)
    answer.accepted = len(points)
    return answer
