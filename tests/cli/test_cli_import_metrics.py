"""`shopsentinel metrics list`, `shopsentinel import` (all or nothing), `rules validate`, run as a user
runs them: the installed console script in a subprocess."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

EXE = Path(sys.executable).with_name("shopsentinel")
ENV = {**os.environ, "COLUMNS": "250", "NO_COLOR": "1"}
HEADER = "ts,platform,store,metric,value,sku\n"


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(EXE), *args], capture_output=True, text=True, env=ENV, cwd=cwd, timeout=120, check=False)


def squash(text: str) -> str:
    return "".join(text.split())


def test_metrics_list_prints_the_catalog(tmp_path: Path) -> None:
    result = cli("metrics", "list", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for needle in ("访客数", "uv", "conversion_rate", "orders / uv", "stock_cover_days", "strategic", "24h"):
        assert needle in out, needle
    english = cli("metrics", "list", "--lang", "en", cwd=tmp_path)
    assert "Unique visitors" in english.stdout and "访客数" not in english.stdout


def db_rows(db: Path) -> list[tuple[object, ...]]:
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT ts, platform, store, sku, metric, value FROM points ORDER BY 1, 2, 3, 4, 5").fetchall()
    finally:
        con.close()


def test_import_then_bad_import_leaves_store_unchanged(tmp_path: Path) -> None:
    good = tmp_path / "good"
    good.mkdir()
    (good / "metrics.csv").write_text(
        HEADER + "".join(f"2026-03-01T{h:02d}:00:00Z,tmall,s1,orders,{10 + h},\n" for h in range(5)), encoding="utf-8"
    )
    (good / "stores.csv").write_text("store,platform,name,timezone\ns1,tmall,店1,Asia/Shanghai\n", encoding="utf-8")
    db = tmp_path / "state.db"  # the state database serve reads
    first = cli("import", str(good), "--database-url", f"sqlite:///{db}", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "stored_points_total" in first.stdout
    before = db_rows(db)
    assert [r[5] for r in before] == [10.0, 11.0, 12.0, 13.0, 14.0]

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "metrics.csv").write_text(
        HEADER + "2026-03-01T00:00:00Z,tmall,s1,orders,999,\n" + "2026-03-01T05:00:00Z,tmall,s1,orders,ten,\n", encoding="utf-8"
    )
    second = cli("import", str(bad), "--database-url", f"sqlite:///{db}", cwd=tmp_path)
    assert second.returncode == 2
    message = squash(second.stderr + second.stdout)
    assert squash(str(bad / "metrics.csv")) in message
    assert "line3" in message and "'value'" in message and "ten" in message
    assert db_rows(db) == before


def test_rules_validate(tmp_path: Path) -> None:
    shown = cli("rules", "show-default", cwd=tmp_path)
    assert shown.returncode == 0
    pack = tmp_path / "pack.yaml"
    pack.write_text(shown.stdout, encoding="utf-8")
    ok = cli("rules", "validate", str(pack), cwd=tmp_path)
    assert ok.returncode == 0
    assert "rules OK" in ok.stdout and "traffic.uv_drop_vs_yesterday" in ok.stdout
    broken = tmp_path / "broken.yaml"
    broken.write_text(shown.stdout.replace("severity: critical", "severity: urgent", 1), encoding="utf-8")
    bad = cli("rules", "validate", str(broken), cwd=tmp_path)
    assert bad.returncode == 2
    assert "severity" in bad.stderr and squash(str(broken)) in squash(bad.stderr)
