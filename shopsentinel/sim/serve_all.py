"""Every platform's fake server at once, on loopback, for ``shopsentinel sim serve`` and demos.

Each fake serves its own seeded store history covering the ``days`` before now; the printed
Config fields (app keys, secrets, tokens, base URL) are what a real connector needs to sync it.
What differs per platform (which fake, which keys, where the base URL points) is taken from the
simulated stores of ``sync check`` (:data:`shopsentinel.sim.sync.SIM_STORES`), so the two
cannot drift apart.

>>> # with serving_all(seed=7) as fakes: print(fakes[0].platform, fakes[0].config["base_url"])
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shopsentinel.core.clock import Clock, SystemClock
from shopsentinel.sim.platforms.dataset import Dataset, make_dataset
from shopsentinel.sim.platforms.dataset_intl import make_traffic
from shopsentinel.sim.platforms.serve import serve_in_thread
from shopsentinel.sim.sync import SIM_STORES, SimStore


@dataclass(frozen=True)
class ServedFake:
    """One running fake: where it listens, the connector Config fields to use, and what it serves."""

    platform: str
    root_url: str  # http://127.0.0.1:<port>
    config: dict[str, Any]  # connector Config fields (no ``store``), ``start`` included
    dataset: Dataset
    spec: SimStore
    app: Any


def _hour_floor(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _start_one(stack: ExitStack, spec: SimStore, *, seed: int, start: datetime, end: datetime,
               per_hour: float, clock: Clock, options: Mapping[str, Any]) -> ServedFake:
    dataset = spec.prepare(make_dataset(seed + spec.seed, spec.timezone, start, end, per_hour))
    options = {**spec.app_options, **options}
    if spec.traffic is not None:
        options["traffic"] = make_traffic(seed + spec.seed, start - timedelta(days=1), end + timedelta(hours=1))
    app = spec.create_app(dataset, clock=clock, **options)
    root = stack.enter_context(serve_in_thread(app))
    fields = {k: v.format(url=root + spec.path, root=root) if isinstance(v, str) else v for k, v in spec.config.items()}
    return ServedFake(spec.platform, root, {**fields, "start": start}, dataset, spec, app)


@contextmanager
def serving_all(
    *,
    seed: int = 7,
    days: int = 3,
    per_hour: float = 3.0,
    clock: Clock | None = None,
    platforms: Iterable[str] | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> Iterator[list[ServedFake]]:
    """Start the fakes (all, or ``platforms``) on free loopback ports; stop them all on exit.

    The data covers ``days`` whole hours up to the clock's current hour; the fakes check timestamps
    and token expiry against ``clock`` (the system clock unless a test injects a manual one).
    ``options`` overrides a platform's fake options, e.g. ``{"amazon": {"rate_limits": …}}``."""
    if days < 1:
        raise ValueError("days must be at least 1")
    clock = clock or SystemClock()
    names = list(platforms) if platforms is not None else list(SIM_STORES)
    unknown = sorted(set(names) - set(SIM_STORES))
    if unknown:
        raise KeyError(f"no fake for {', '.join(unknown)}; known: {', '.join(sorted(SIM_STORES))}")
    end = _hour_floor(clock.now())
    start = end - timedelta(days=days)
    with ExitStack() as stack:
        yield [_start_one(stack, SIM_STORES[name], seed=seed, start=start, end=end, per_hour=per_hour, clock=clock,
                           options=(options or {}).get(name, {}))
               for name in names]


def describe(fake: ServedFake) -> list[tuple[str, str]]:
    """The Config fields to give a connector (``shopsentinel stores add --config-json``), as text pairs.

    The fakes' keys are fixed, public test values, so printing them is fine — unlike real secrets."""
    return [(k, v.isoformat() if isinstance(v, datetime) else str(v)) for k, v in fake.config.items()]
