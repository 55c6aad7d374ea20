"""Shared fixtures: the service fixtures (a fresh state database per test on SQLite and, when it is
reachable, PostgreSQL; an app on a manual clock; a synchronous ASGI client) are used by the tests of
alerting, notify, store, runtime, api, insight, actions and web alike."""

pytest_plugins = ["tests.support.service", "tests.support.channels", "tests.support.remote"]
