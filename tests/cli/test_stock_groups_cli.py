"""``shopsentinel stock-groups import`` beside a real ``serve`` holding the sync database: the CSV's groups
land in the service through its API (never a DuckDB lock); a bad cell names file, line and column and
sends nothing."""

from __future__ import annotations

import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

from tests.support.processes import ADMIN, serve, service_env


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from shopsentinel.cli import app; app()", *args],
                          env=env, capture_output=True, text=True, timeout=120)


def test_stock_groups_from_a_csv_into_the_running_service(tmp_path: Path) -> None:
    env = service_env(tmp_path, SHOPSENTINEL_SYNC_DB=str(tmp_path / "sync.duckdb"))
    good, bad = tmp_path / "groups.csv", tmp_path / "bad.csv"
    good.write_text("group,platform,store,sku,tolerance,lag_hours,reference\n"
                    "羽绒服,tmall,tm-1,A-1,2,1,\n羽绒服,jd,jd-1,A-1-JD,,,\n羽绒服,jd,erp,A-1,,,是\n"
                    "T恤,tmall,tm-1,B-1,,,\nT恤,pdd,pdd-1,B-1,,,\n", encoding="utf-8")
    bad.write_text("group,platform,store,sku,tolerance\nX,tmall,tm-1,C-1,两个\nX,jd,jd-1,C-1,\n", encoding="utf-8")
    with ExitStack() as stack:
        server = serve(stack, tmp_path, env, "serve")
        refused = _cli(env, "stock-groups", "import", str(bad), "--url", server.base_url, "--token", ADMIN)
        output = refused.stdout + refused.stderr
        assert refused.returncode == 2 and "Traceback" not in output
        assert "bad.csv, line 2, column 'tolerance'" in output.replace("\n", "")
        assert server.get("/api/v1/stock-groups") == []
        done = _cli(env, "stock-groups", "import", str(good), "--url", server.base_url, "--token", ADMIN)
        assert done.returncode == 0, done.stdout + done.stderr
        groups = {g["name"]: g for g in server.get("/api/v1/stock-groups")}
        assert sorted(groups) == ["T恤", "羽绒服"]
        assert (groups["羽绒服"]["tolerance"], groups["羽绒服"]["lag_hours"]) == (2.0, 1.0)
        assert [m["store"] for m in groups["羽绒服"]["members"] if m["reference"]] == ["erp"]
        listed = _cli(env, "stock-groups", "list", "--url", server.base_url, "--token", ADMIN)
        assert listed.returncode == 0 and "jd/erp/A-1（基准）" in listed.stdout
        wrong = _cli(env, "stock-groups", "list", "--url", server.base_url, "--token", "not-a-token")
        assert wrong.returncode == 2 and "令牌" in wrong.stdout + wrong.stderr
