"""``shopsentinel worker`` and ``shopsentinel scheduler``: the scale-out roles beside ``serve``
(docs/DEPLOY.md). Both need ``SHOPSENTINEL_BROKER_URL`` and a database every role shares (PostgreSQL)."""

from __future__ import annotations

import os
import signal
import socket
import threading
from typing import Annotated

import typer

from shopsentinel.core.settings import Settings


def _settings() -> Settings:
    from shopsentinel.core.console import fail
    from shopsentinel.core.logs import configure_from_settings

    settings = Settings()
    configure_from_settings(settings)
    if not settings.broker_url:
        fail("未设置 SHOPSENTINEL_BROKER_URL：没有消息代理时，serve 在进程内完成全部工作 / SHOPSENTINEL_BROKER_URL is "
             "not set: without a broker, serve does all the work in-process", code=2)
    return settings


def worker(
    concurrency: Annotated[int, typer.Option(help="tasks run at once by this worker")] = 4,
    pool: Annotated[str, typer.Option(help="threads (one service per process, shared by its threads), prefork "
                                           "(one service per child process) or solo")] = "threads",
    queues: Annotated[str | None, typer.Option(help="comma-separated queues to consume (default: every queue: "
                                                    "eval.0 … eval.<shards-1>, deliver, sync, respond)")] = None,
) -> None:
    """Run a Celery worker: evaluations, the notification pipeline, deliveries, syncs, the response loop."""
    from shopsentinel.core.console import fail
    from shopsentinel.core.extras import MissingExtraError
    from shopsentinel.runtime.distributed.celery_app import make_celery
    from shopsentinel.runtime.distributed.shards import all_queues
    from shopsentinel.runtime.distributed.tasks import WorkerContext, register_tasks

    settings = _settings()
    try:
        app = make_celery(settings)
    except MissingExtraError as exc:
        fail(exc, code=2)
    context = WorkerContext(settings)
    register_tasks(app, context)
    from celery import signals

    @signals.worker_ready.connect(weak=False)  # type: ignore[untyped-decorator]
    def _ready(**_kwargs: object) -> None:
        if pool != "prefork":  # a prefork parent must not open the database its children inherit
            context.service()
        typer.echo(f"工作进程就绪 / worker ready (pid {os.getpid()})", err=True)

    names = queues or ",".join(all_queues(settings.shards))
    try:
        app.worker_main(["worker", f"--pool={pool}", f"--concurrency={concurrency}", "-Q", names,
                         "-n", f"shopsentinel-{os.getpid()}@{socket.gethostname()}",
                         "--without-gossip", "--without-mingle", "--without-heartbeat",
                         f"--loglevel={settings.log_level}"])
    finally:
        context.close()


def scheduler(
    standby_seconds: Annotated[float, typer.Option(help="how often a standby instance tries to take the lead")] = 1.0,
) -> None:
    """Run the periodic work (one leader among all instances; the others stand by and take over at once)."""
    from shopsentinel.core.console import fail
    from shopsentinel.core.extras import MissingExtraError
    from shopsentinel.core.secrets import SecretKeyError
    from shopsentinel.runtime.distributed.celery_app import TaskSender
    from shopsentinel.runtime.distributed.leader import SchedulerLoop
    from shopsentinel.runtime.distributed.tasks import shared_settings, use_broker
    from shopsentinel.runtime.service import build_service

    settings = _settings()
    try:
        sender = TaskSender.from_settings(settings)
        service = use_broker(build_service(shared_settings(settings)), sender, follow=False)
    except (MissingExtraError, ValueError) as exc:
        fail(exc, code=2)
    except SecretKeyError as exc:
        fail(exc, code=3)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        SchedulerLoop(service, sender, standby_seconds=standby_seconds).run(stop)
    finally:
        service.close()


__all__ = ["scheduler", "worker"]
