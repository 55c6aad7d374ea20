"""The contract every registered channel keeps. Parametrized over ``BUILTIN_CHANNELS`` itself, so a
new channel is covered without touching this file.

Each channel: builds from its example settings into a :class:`~shopsentinel.notify.base.Notifier`,
classifies a provider's failures as recoverable (429, 5xx, transport errors / SMTP 4xx, refused
connection) or permanent (other 4xx / SMTP 5xx), and never shows a secret in repr, str or an error.
"""

from __future__ import annotations

import asyncio
import inspect
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from pydantic import BaseModel, SecretStr

from shopsentinel.core.clock import ManualClock
from shopsentinel.core.errors import DeliveryError, PermanentDeliveryError, RecoverableDeliveryError
from shopsentinel.notify import BUILTIN_CHANNELS, ChannelSpec, Notifier, builtin_registry
from shopsentinel.notify.registry import ChannelRegistry
from tests.notify.conftest import T0, make_notification

SPECS = {spec.key: spec for spec in BUILTIN_CHANNELS}
KEYS = sorted(SPECS)
RECOVERABLE_STATUSES = (429, 500, 503)
PERMANENT_STATUSES = (400, 401, 403, 404)


def secret_names(model: type[BaseModel]) -> list[str]:
    return [name for name, info in model.model_fields.items()
            if info.annotation is SecretStr or SecretStr in getattr(info.annotation, "__args__", ())]


def with_canaries(spec: ChannelSpec) -> dict[str, Any]:
    """The example settings with every secret field ending in a canary that must never show."""
    settings = dict(spec.example)
    for name in secret_names(spec.config_model):
        settings[name] = f"{settings.get(name, '')}CANARY{name}"
    return settings


def send(notifier: Notifier, client: httpx.AsyncClient | None = None) -> DeliveryError:
    """Send one notification; return the DeliveryError it raised (anything else fails the test)."""

    async def go() -> None:
        async with client or httpx.AsyncClient(transport=httpx.MockTransport(refuse_http)) as http:
            await notifier.send(make_notification(), http)

    with pytest.raises(DeliveryError) as raised:
        asyncio.run(go())
    return raised.value


def refuse_http(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"unexpected HTTP call to {request.url.host}")


def http_answering(status: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(lambda request: httpx.Response(status, text="no")))


def http_refusing() -> httpx.AsyncClient:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


class RefusingMailbox:
    def __init__(self, reply: str) -> None:
        self.reply = reply

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd hook
        return self.reply


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def smtp_server(reply: str) -> Iterator[int]:
    port = free_port()
    controller = Controller(RefusingMailbox(reply), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


# How to make each transport's provider fail: (expected error, run) where run(settings) -> DeliveryError.
Fault = Callable[[ChannelRegistry, str, dict[str, Any]], DeliveryError]


def _http_fault(make_client: Callable[[], httpx.AsyncClient]) -> Fault:
    def run(registry: ChannelRegistry, key: str, settings: dict[str, Any]) -> DeliveryError:
        return send(registry.build(key, settings, clock=ManualClock(T0)), make_client())

    return run


def _smtp_fault(reply: str | None) -> Fault:
    def run(registry: ChannelRegistry, key: str, settings: dict[str, Any]) -> DeliveryError:
        plain = {**settings, "host": "127.0.0.1", "starttls": False, "implicit_tls": False, "username": None,
                 "password": None, "timeout_seconds": 5.0}
        if reply is None:  # nothing listens
            return send(registry.build(key, {**plain, "port": free_port()}, clock=ManualClock(T0)))
        with smtp_server(reply) as port:
            return send(registry.build(key, {**plain, "port": port}, clock=ManualClock(T0)))

    return run


FAULTS: dict[str, list[tuple[type[DeliveryError], str, Fault]]] = {
    "http": [
        *[(RecoverableDeliveryError, f"HTTP {s}", _http_fault(lambda s=s: http_answering(s))) for s in RECOVERABLE_STATUSES],
        *[(PermanentDeliveryError, f"HTTP {s}", _http_fault(lambda s=s: http_answering(s))) for s in PERMANENT_STATUSES],
        (RecoverableDeliveryError, "connection refused", _http_fault(http_refusing)),
    ],
    "smtp": [
        (RecoverableDeliveryError, "SMTP 451", _smtp_fault("451 4.3.0 try again later")),
        (PermanentDeliveryError, "SMTP 554", _smtp_fault("554 5.6.0 message refused")),
        (RecoverableDeliveryError, "connection refused", _smtp_fault(None)),
    ],
}


def test_every_channel_is_in_the_one_registry() -> None:
    assert builtin_registry().keys() == KEYS
    assert len(BUILTIN_CHANNELS) == len(KEYS)


@pytest.mark.parametrize("key", KEYS)
def test_builds_from_its_example_settings(key: str) -> None:
    spec = SPECS[key]
    assert spec.example, f"{key}: the registry entry needs example settings"
    assert spec.description, f"{key}: the registry entry needs a description"
    notifier = builtin_registry().build(key, spec.example, clock=ManualClock(T0))
    assert isinstance(notifier, Notifier)
    assert notifier.channel == key
    assert inspect.iscoroutinefunction(notifier.send)


@pytest.mark.parametrize("key", KEYS)
def test_classifies_failures_as_recoverable_or_permanent_without_secrets(key: str) -> None:
    spec = SPECS[key]
    assert spec.transport in FAULTS, f"{key}: no fault injector for transport {spec.transport!r}"
    settings = with_canaries(spec)
    for expected, what, fault in FAULTS[spec.transport]:
        error = fault(builtin_registry(), key, settings)
        assert type(error) is expected, f"{key}: {what} gave {type(error).__name__}: {error}"
        assert "CANARY" not in str(error) + repr(error), f"{key}: {what} error shows a secret"


@pytest.mark.parametrize("key", KEYS)
def test_never_shows_a_secret_in_repr_or_str(key: str) -> None:
    spec = SPECS[key]
    assert secret_names(spec.config_model), f"{key}: a channel without any SecretStr credential"
    registry = builtin_registry()
    settings = with_canaries(spec)
    notifier = registry.build(key, settings, clock=ManualClock(T0))
    config = registry.config(key, settings)
    shown = repr(notifier) + str(notifier) + repr(config) + str(config) + str(config.model_dump())
    assert "CANARY" not in shown


def test_the_contract_can_fail() -> None:
    """A channel that echoes its secret, or calls every failure permanent, is caught."""

    class Config(BaseModel):
        token: SecretStr

    class Careless:
        channel = "careless"

        def __init__(self, config: Config) -> None:
            self.token = config.token.get_secret_value()

        def __repr__(self) -> str:
            return f"Careless(token={self.token!r})"

        async def send(self, notification: Any, client: httpx.AsyncClient) -> Any:
            response = await client.post("https://example.com/", content=self.token)
            raise PermanentDeliveryError(f"careless: HTTP {response.status_code} ({self.token})")

    spec = ChannelSpec("careless", Config, lambda c, clock: Careless(c), "x", {"token": "t"})
    registry = ChannelRegistry([spec])
    notifier = registry.build("careless", with_canaries(spec))
    assert "CANARY" in repr(notifier)
    error = FAULTS["http"][0][2](registry, "careless", with_canaries(spec))
    assert type(error) is not RecoverableDeliveryError and "CANARY" in str(error)
