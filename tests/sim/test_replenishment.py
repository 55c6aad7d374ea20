"""The fakes' stock as a seller runs it: reorder at lead time + safety stock, deliveries a lead time
later, nothing sold from an empty shelf; stock-outs are read from the data itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shopsentinel.sim.platforms.dataset import make_dataset
from shopsentinel.sim.sync import LateDelivery, Replenishment, replenish, stock_outs
from shopsentinel.sources.base import StockSnapshot

START = datetime(2026, 6, 1, tzinfo=UTC)
END = START + timedelta(days=60)
DAY = timedelta(days=1)


def store(late: list[LateDelivery] | None = None, seed: int = 5):
    ds = make_dataset(seed, "Asia/Shanghai", START, END, 4)
    replenish(ds, seed, Replenishment(), late or [])
    return ds


def by_sku(snaps: list[StockSnapshot]) -> dict[str, list[StockSnapshot]]:
    out: dict[str, list[StockSnapshot]] = {}
    for s in sorted(snaps, key=lambda s: s.at):
        out.setdefault(s.sku, []).append(s)
    return out


def test_a_punctual_supplier_keeps_every_sku_on_the_shelf_and_stock_follows_sales() -> None:
    ds = store()
    assert stock_outs(ds, "jd", "x") == []
    assert min(s.quantity for s in ds.stock) > 0
    for sku, snaps in by_sku(ds.stock).items():
        rises = [b for a, b in zip(snaps, snaps[1:], strict=False) if b.quantity > a.quantity]
        assert len(rises) >= 3, sku  # restocked every cycle …
        first, last = snaps[len(snaps) // 2], snaps[len(snaps) // 2 + 1]
        sold = sum(line.quantity for o in ds.orders if o.paid_at and first.at < o.paid_at <= last.at
                   for line in o.lines if line.sku == sku)
        if last.quantity <= first.quantity:  # … and between deliveries the shelf falls by what was sold
            assert first.quantity - last.quantity == sold


def test_a_late_supplier_empties_the_shelf_and_nothing_is_sold_from_it() -> None:
    late = [LateDelivery("jd", "x", "", START + 30 * DAY, START + 40 * DAY, 6.0)]
    ds = store(late)
    outs = stock_outs(ds, "jd", "x")
    assert outs and all(o.kind == "stock_out" and o.sku for o in outs)
    for out in outs:
        assert START + 30 * DAY < out.start < out.end
        sold_while_empty = [o for o in ds.orders if o.paid_at and out.start < o.paid_at < out.end
                            and any(line.sku == out.sku for line in o.lines)]
        assert sold_while_empty == []
        assert sum(o.amount for o in ds.orders if o.paid_at) > 0
    assert stock_outs(ds, "jd", "x", since=END) == []


def test_only_a_selling_sku_at_zero_is_a_stock_out() -> None:
    ds = make_dataset(5, "Asia/Shanghai", START, START + 3 * DAY, 4)
    selling = next(o.lines[0].sku for o in ds.orders if o.paid_at and START + DAY < o.paid_at < START + 2 * DAY)
    idle = "SKU-999"  # listed, never sold
    empty, back = START + 2 * DAY, START + 2 * DAY + timedelta(hours=7)
    ds.stock = [StockSnapshot(sku, at, qty, 10.0) for sku in (selling, idle)
                for at, qty in ((START, 100), (empty, 0), (back, 40))]
    assert [(o.sku, o.start, o.end) for o in stock_outs(ds, "jd", "x")] == [(selling, empty, back)]
