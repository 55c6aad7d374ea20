"""Scale-out on Celery (docs/DEPLOY.md): with ``broker_url`` set, ``serve`` hands the stores to judge
to ``shopsentinel worker`` processes and ``shopsentinel scheduler`` runs the periodic work.

- ``shards.py``: which ``eval.<n>`` queue a store goes to (a stable hash of platform/store);
- ``celery_app.py``: the Celery app, its settings and :class:`TaskSender` (what sends the tasks);
- ``remote.py``: :class:`RemoteScheduler`, the scheduler ingest talks to, sending tasks instead of queueing;
- ``tasks.py``: the task bodies as plain functions over a :class:`~shopsentinel.runtime.service.Service`,
  and the per-process worker context;
- ``leader.py``: the scheduler role's loop (one leader on a PostgreSQL advisory lock, others stand by).
"""
