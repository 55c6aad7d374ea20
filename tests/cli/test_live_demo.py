"""The live demo end to end: a small fleet streams into the real service over HTTP in accelerated
time; incidents are caught and announced, and the run ends by itself with a summary."""

from __future__ import annotations

import io
import socket
import sqlite3
from pathlib import Path

from rich.console import Console

from shopsentinel.demo import DemoOptions, run_demo


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_live_demo_streams_catches_and_stops_cleanly(tmp_path: Path) -> None:
    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=False)
    # 3 simulated hours a second: fast, yet a tick (well under a second) still lags the data by less than
    # the 2-hour silence tolerance, as at the real pace — faster, the fleet would look silent to the service
    options = DemoOptions(workdir=tmp_path, stores=6, warmup_days=10, hours=36, speed=3 * 3600,
                          port=_free_port(), incident_rate=2.0)
    assert run_demo(options, console) == 0
    text = out.getvalue()
    assert "实时演示 / live demo" in text and "演示小结 / demo summary" in text
    db = sqlite3.connect(tmp_path / "live" / "state.db")
    streamed_hours = db.execute("SELECT COUNT(DISTINCT ts) FROM points WHERE ts >= "
                                "(SELECT MAX(ts) FROM points) - 35 * 3600").fetchone()[0]
    assert streamed_hours == 36  # every simulated hour arrived through the API, none twice or missing
    inbox = db.execute("SELECT COUNT(*) FROM outbox WHERE status = 'sent'").fetchone()[0]
    fired_live = db.execute("SELECT COUNT(*) FROM alerts WHERE created_at > "
                            "(SELECT MIN(created_at) FROM alerts)").fetchone()[0]
    db.close()
    assert inbox > 0 and fired_live > 0  # alerts raised while streaming, announced in the in-app inbox
    printed = [line for line in text.splitlines() if "【" in line]
    assert len(printed) == inbox  # every notification was printed on the console


def test_ctrl_c_stops_the_demo_cleanly_with_its_summary(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    import httpx

    port = _free_port()
    cli = [sys.executable, "-c", "from shopsentinel.cli import app; app()"]
    proc = subprocess.Popen([*cli, "demo", "--hours", "0", "--stores", "6", "--port", str(port), "--workdir", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "COLUMNS": "200"})
    try:
        assert proc.stdout is not None
        seen = []
        for line in proc.stdout:  # blocks until the demo reports that the server is up and streaming
            seen.append(line)
            if "数据流开始 / streaming from" in line:
                break
        assert proc.poll() is None, "".join(seen)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200
        proc.send_signal(signal.SIGINT)
        out = "".join(seen) + proc.communicate(timeout=60)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out[-2000:]
    assert "已停止 / stopped (Ctrl-C)" in out and "演示小结 / demo summary" in out
    assert "stream failed" not in out  # requests refused while the server shuts down are expected
