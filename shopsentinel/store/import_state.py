"""What ``shopsentinel import DIR`` recorded (revision 0011): one batch per import and its
data-quality findings (duplicates kept out, conflicts, empty and impossible values), in the
state database beside the points the import stored."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shopsentinel.store.state import Base


class ImportBatchRow(Base):
    __tablename__ = "import_batches"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(1000))
    imported_at: Mapped[datetime]
    rows: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    replaced: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)


class ImportFindingRow(Base):
    __tablename__ = "import_findings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch: Mapped[int] = mapped_column(Integer, index=True)
    kind: Mapped[str] = mapped_column(String(32))
    platform: Mapped[str] = mapped_column(String(64))
    store: Mapped[str] = mapped_column(String(200))
    sku: Mapped[str] = mapped_column(String(200), default="")
    metric: Mapped[str] = mapped_column(String(200))
    ts: Mapped[datetime | None] = mapped_column(nullable=True)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    line: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), nullable=True)


__all__ = ["ImportBatchRow", "ImportFindingRow"]
