"""The CLI while a real ``shopsentinel serve`` holds the same files: a clear Chinese-first message
naming the sync database (never a DuckDB lock traceback), and ``import --url`` lands in the service's
own state database through its API."""

from __future__ import annotations

import subprocess
import sys
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support.processes import ADMIN, serve, service_env


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from shopsentinel.cli import app; app()", *args],
                          env=env, capture_output=True, text=True, timeout=120)


def test_cli_beside_a_running_service(tmp_path: Path) -> None:
    sync_db = tmp_path / "sync.duckdb"
    env = service_env(tmp_path, SHOPSENTINEL_SYNC_DB=str(sync_db))
    with ExitStack() as stack:
        server = serve(stack, tmp_path, env, "serve")
        listed = _cli(env, "stores", "list", "--db", str(sync_db))
        assert listed.returncode == 2
        output = listed.stdout + listed.stderr
        assert "Traceback" not in output
        assert "正被另一个进程" in output and "sync.duckdb" in output.replace("\n", "")
        folder = tmp_path / "fleet"
        folder.mkdir()
        hour = (datetime.now(UTC) - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
        lines = [f"{(hour + timedelta(hours=h)).isoformat()},tmall,cli-store,,uv,{100 + h}" for h in range(6)]
        (folder / "metrics.csv").write_text("ts,platform,store,sku,metric,value\n" + "\n".join(lines) + "\n", encoding="utf-8")
        imported = _cli(env, "import", str(folder), "--url", server.base_url, "--token", ADMIN)
        assert imported.returncode == 0, imported.stdout + imported.stderr
        stores = server.get("/api/v1/stores")["items"]
        assert [s["store"] for s in stores] == ["cli-store"]
