"""The distributed topology as plain processes: what ``compose.yaml`` runs in containers, started here
on one machine (no Docker daemon needed) for tests and benchmarks.

    .venv/bin/python deploy/topology.py up --database-url postgresql+psycopg://…/test \
        --broker-url redis://127.0.0.1:6379/0          # api ×2, worker ×2, scheduler; Ctrl-C stops them

``ROLES`` is the one list of processes: ``compose.yaml`` must run the same roles with the same commands
and replica counts (``tests/layout/test_deploy.py`` parses the compose file against it). Each process
logs to ``<run dir>/<role>-<n>.log``; the API replicas listen on consecutive ports from ``--base-port``.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
SHOPSENTINEL = Path(sys.executable).with_name("shopsentinel")


@dataclass(frozen=True)
class Role:
    name: str
    replicas: int
    command: tuple[str, ...]  # after the ``shopsentinel`` program
    serves_http: bool = False


ROLES: tuple[Role, ...] = (
    Role("api", 2, ("serve",), serves_http=True),
    Role("worker", 2, ("worker",)),
    Role("scheduler", 1, ("scheduler",)),
)
# What every role must be given (compose.yaml sets each for every role).
SHARED_ENV = ("SHOPSENTINEL_DATABASE_URL", "SHOPSENTINEL_BROKER_URL", "SHOPSENTINEL_SECRET_KEY")


@dataclass
class Process:
    role: str
    index: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    port: int | None = None

    @property
    def name(self) -> str:
        return f"{self.role}-{self.index}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""


@dataclass
class Topology:
    processes: list[Process] = field(default_factory=list)

    def of(self, role: str) -> list[Process]:
        return [p for p in self.processes if p.role == role]

    def api_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{p.port}" for p in self.of("api")]

    def stop(self) -> None:
        for process in self.processes:
            if process.proc.poll() is None:
                process.proc.terminate()
        deadline = time.monotonic() + 15
        for process in self.processes:
            try:
                process.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.proc.kill()
                process.proc.wait(10)


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def start(env: Mapping[str, str], run_dir: Path, base_port: int, roles: Sequence[Role] = ROLES,
          replicas: Mapping[str, int] | None = None) -> Topology:
    """Start every role's processes (all at once: a cold start imports a lot). ``replicas`` overrides
    the counts of ``roles``. Returns before they are ready; see :func:`wait_ready`."""
    missing = [k for k in SHARED_ENV if not env.get(k)]
    if missing:
        raise SystemExit("缺少环境变量 / missing environment: " + ", ".join(missing))
    run_dir.mkdir(parents=True, exist_ok=True)
    http = sum((replicas or {}).get(r.name, r.replicas) for r in roles if r.serves_http)
    busy = [p for p in range(base_port, base_port + http) if not _port_free(p)]
    if busy:  # another topology (or anything) there would answer our readiness probe in our place
        raise SystemExit(f"端口已被占用 / ports already in use: {busy}")
    topology = Topology()
    port = base_port
    for role in roles:
        for index in range((replicas or {}).get(role.name, role.replicas)):
            args = [str(SHOPSENTINEL), *role.command]
            if role.serves_http:
                args += ["--host", "127.0.0.1", "--port", str(port)]
            log_path = run_dir / f"{role.name}-{index}.log"
            with log_path.open("wb") as log:
                proc = subprocess.Popen(args, env=dict(env), cwd=run_dir, stdout=log, stderr=subprocess.STDOUT)
            topology.processes.append(Process(role.name, index, proc, log_path, port if role.serves_http else None))
            if role.serves_http:
                port += 1
    return topology


def wait_ready(topology: Topology, timeout: float = 120.0) -> None:
    """Until every API replica answers ``/healthz`` and no process has exited."""
    deadline = time.monotonic() + timeout
    pending = set(topology.api_urls())
    while pending:
        for process in topology.processes:
            if process.proc.poll() is not None:
                raise RuntimeError(f"{process.name} exited with {process.proc.returncode}:\n{process.log()}")
        for url in list(pending):
            try:
                if httpx.get(f"{url}/healthz", timeout=0.5).status_code == 200:
                    pending.discard(url)
            except httpx.TransportError:
                pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"not ready after {timeout:g} s: {sorted(pending)}")
        time.sleep(0.2)  # polling a process we do not control


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["up"])
    parser.add_argument("--database-url", default=os.environ.get("SHOPSENTINEL_DATABASE_URL", ""))
    parser.add_argument("--broker-url", default=os.environ.get("SHOPSENTINEL_BROKER_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--base-port", type=int, default=8100)
    parser.add_argument("--run-dir", type=Path, default=ROOT / ".topology")
    args = parser.parse_args(argv)
    env = {**os.environ, "SHOPSENTINEL_DATABASE_URL": args.database_url, "SHOPSENTINEL_BROKER_URL": args.broker_url}
    topology = start(env, args.run_dir, args.base_port)
    try:
        wait_ready(topology)
        for process in topology.processes:
            where = f" http://127.0.0.1:{process.port}" if process.port else ""
            print(f"{process.name}: pid {process.proc.pid}{where} (log {process.log_path})")
        signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop like Ctrl-C
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        topology.stop()


if __name__ == "__main__":
    main()
