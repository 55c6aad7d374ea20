"""The CLI while a real ``shopsentinel serve`` runs on the same state database: stores, sync state
and metric definitions are written beside it (no lock, no traceback) and the service sees them, and
``import --url`` lands in the service's own state database through its API."""

from __future__ import annotations

import json
import subprocess
import sys
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support.metrics import ORDER_HEALTH_YAML
from tests.support.processes import ADMIN, serve, service_env, wait_for


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from shopsentinel.cli import app; app()", *args],
                          env=env, capture_output=True, text=True, timeout=120)


CONFIG = {"app_key": "12345678", "app_secret": "tb-secret-9f3a77", "access_token": "session-5511aa",
          "base_url": "http://127.0.0.1:9/router/rest", "start": "2026-11-01T00:00:00+08:00"}
METRIC = ORDER_HEALTH_YAML


def test_cli_beside_a_running_service(tmp_path: Path) -> None:
    """``stores add|list`` and ``metrics define|list`` share the running service's state database
    (no lock, no traceback): the store the CLI registers is synced by serve's next tick (its sync
    attempt and error show in serve's API), and ``import --url`` goes through the service's API."""
    env = service_env(tmp_path, SHOPSENTINEL_SYNC_DB=str(tmp_path / "sync.duckdb"))  # syncing on
    with ExitStack() as stack:
        server = serve(stack, tmp_path, env, "serve")
        wait_for("serve's first background tick", lambda: server.ticks() >= 1)
        added = _cli(env, "stores", "add", "--platform", "taobao", "--store", "tb-cli", "--timezone", "Asia/Shanghai",
                     "--config-json", json.dumps(CONFIG))
        assert added.returncode == 0, added.stdout + added.stderr
        listed = _cli(env, "stores", "list")
        assert listed.returncode == 0 and "Traceback" not in listed.stdout + listed.stderr, listed.stdout + listed.stderr
        assert "tb-cli" in listed.stdout

        def attempted() -> dict[str, object] | None:  # serve's sync step found the store and tried it
            response = server.client.get("/api/v1/stores/taobao/tb-cli/sync")
            body = response.json() if response.status_code == 200 else {}
            return body if body.get("last_attempt") else None

        status = wait_for("serve's sync of the store the CLI added", attempted, timeout=60.0)
        assert status["consecutive_failures"] and status["last_error"]  # nothing listens on port 9
        (tmp_path / "metrics.yaml").write_text(METRIC, encoding="utf-8")
        defined = _cli(env, "metrics", "define", str(tmp_path / "metrics.yaml"), "--author", "alice")
        assert defined.returncode == 0, defined.stdout + defined.stderr
        shown = _cli({**env, "COLUMNS": "250"}, "metrics", "list", "--lang", "en")  # no column cut short
        assert shown.returncode == 0 and "order_health" in shown.stdout, shown.stdout + shown.stderr
        assert not (tmp_path / "sync.duckdb").exists()  # no DuckDB file beside the state database
        folder = tmp_path / "fleet"
        folder.mkdir()
        hour = (datetime.now(UTC) - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
        lines = [f"{(hour + timedelta(hours=h)).isoformat()},tmall,cli-store,,uv,{100 + h}" for h in range(6)]
        (folder / "metrics.csv").write_text("ts,platform,store,sku,metric,value\n" + "\n".join(lines) + "\n", encoding="utf-8")
        imported = _cli(env, "import", str(folder), "--url", server.base_url, "--token", ADMIN)
        assert imported.returncode == 0, imported.stdout + imported.stderr
        stores = server.get("/api/v1/stores")["items"]
        # the imported store is there; the CLI-added store whose every sync failed has no points (its failed
        # streams' hours are missing, not zero) and shows in its sync status above, not among stores with data
        assert sorted(s["store"] for s in stores) == ["cli-store"]


def test_import_lands_in_the_state_database_a_running_service_reads(tmp_path: Path) -> None:
    """``shopsentinel import DIR`` without --url writes the service's own state database (the same
    SHOPSENTINEL_DATABASE_URL) while ``serve`` runs and writes it too: no lock traceback, and the
    service's API shows the store, its name and time zone from stores.csv and the span of its points."""
    env = service_env(tmp_path)
    with ExitStack() as stack:
        server = serve(stack, tmp_path, env, "serve")
        hour = (datetime.now(UTC) - timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
        pushed = [{"ts": (hour + timedelta(hours=h)).isoformat(), "platform": "jd", "store": "api-store",
                   "metric": "uv", "value": 50 + h} for h in range(24)]
        assert server.client.post("/api/v1/points", json={"points": pushed}).status_code == 200
        folder = tmp_path / "fleet"
        folder.mkdir()
        lines = [f"{(hour + timedelta(hours=h)).isoformat()},tmall,cli-store,,uv,{100 + h}" for h in range(48)]
        (folder / "metrics.csv").write_text("ts,platform,store,sku,metric,value\n" + "\n".join(lines) + "\n",
                                            encoding="utf-8")
        (folder / "stores.csv").write_text("store,platform,name,timezone\ncli-store,tmall,命令行店,Asia/Shanghai\n",
                                           encoding="utf-8")
        imported = _cli(env, "import", str(folder))
        output = imported.stdout + imported.stderr
        assert imported.returncode == 0, output
        assert "Traceback" not in output and "stored_points_total" in output
        stores = {s["store"]: s for s in server.get("/api/v1/stores")["items"]}
        assert sorted(stores) == ["api-store", "cli-store"]
        row = stores["cli-store"]
        assert (row["name"], row["timezone"]) == ("命令行店", "Asia/Shanghai")
        first = datetime.fromisoformat(row["first_point_at"].replace("Z", "+00:00"))
        last = datetime.fromisoformat(row["last_point_at"].replace("Z", "+00:00"))
        assert (first, last) == (hour, hour + timedelta(hours=47))
        # the service keeps writing the same database after the import
        more = [{**p, "ts": (hour + timedelta(hours=30 + i)).isoformat()} for i, p in enumerate(pushed[:3])]
        assert server.client.post("/api/v1/points", json={"points": more}).status_code == 200
        again = server.get("/api/v1/stores/jd/api-store")
        assert datetime.fromisoformat(again["last_point_at"].replace("Z", "+00:00")) == hour + timedelta(hours=32)
