"""Which evaluation queue a store goes to: ``eval.<n>`` by a stable hash of ``platform/store``.

Stable across processes, restarts and Python versions (BLAKE2b, never ``hash()``, which is salted
per process), so every replica sends a store to the same queue.

>>> shard_of(("tmall", "s1"), 4) == shard_of(("tmall", "s1"), 4)
True
>>> eval_queue(2)
'eval.2'
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable

StoreKey = tuple[str, str]
EVAL_PREFIX = "eval."
DELIVER_QUEUE, SYNC_QUEUE, RESPOND_QUEUE = "deliver", "sync", "respond"
# Stores to judge for past hours (backfills, the periodic pass of closing hours) go to ``backlog``, never in
# front of live news on the ``eval.<n>`` shards: a worker takes from both queues in turn, so a crash waits
# behind at most one backlog task per worker thread, however long a backfill's queue.
BACKLOG_QUEUE = "backlog"


def shard_of(key: StoreKey, shards: int) -> int:
    """The shard (0 … shards-1) of one store."""
    digest = hashlib.blake2b(f"{key[0]}/{key[1]}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % max(1, shards)


def eval_queue(shard: int) -> str:
    return f"{EVAL_PREFIX}{shard}"


def all_queues(shards: int) -> list[str]:
    """Every queue of an installation with ``shards`` evaluation shards."""
    return [*(eval_queue(i) for i in range(max(1, shards))), DELIVER_QUEUE, BACKLOG_QUEUE, SYNC_QUEUE, RESPOND_QUEUE]


def by_shard(keys: Iterable[StoreKey], shards: int, batch: int) -> list[tuple[int, list[StoreKey]]]:
    """The stores grouped by shard (deduplicated, in order), in batches of at most ``batch``.

    >>> [(n, len(b)) for n, b in by_shard([("tm", "a"), ("tm", "a")], 1, 40)]
    [(0, 1)]
    """
    groups: dict[int, list[StoreKey]] = defaultdict(list)
    for key in dict.fromkeys(keys):
        groups[shard_of(key, shards)].append(key)
    size = max(1, batch)
    return [(shard, members[i:i + size]) for shard, members in sorted(groups.items())
            for i in range(0, len(members), size)]


__all__ = ["BACKLOG_QUEUE", "DELIVER_QUEUE", "EVAL_PREFIX", "RESPOND_QUEUE", "SYNC_QUEUE", "all_queues", "by_shard", "eval_queue",
           "shard_of"]
