"""A spawned worker (the backtest's shards) imports the CLI again as its parent's main script; it
never runs a command, so it leaves the service, web and connector commands unimported; so does
``shopsentinel backtest``, and only it."""

from __future__ import annotations

import importlib
import multiprocessing
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor

SERVICE_COMMANDS = ("shopsentinel.cli.serve", "shopsentinel.cli.web", "shopsentinel.cli.sources", "shopsentinel.cli.keys")


def imported_after_cli() -> list[str]:
    importlib.import_module("shopsentinel.cli")  # what the worker's re-run of the main script does
    return [name for name in SERVICE_COMMANDS if name in sys.modules]


def test_a_spawned_worker_skips_the_service_commands() -> None:
    importlib.import_module("shopsentinel.cli")  # here, in the main process, every command is registered
    assert [name for name in SERVICE_COMMANDS if name in sys.modules] == list(SERVICE_COMMANDS)
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        assert pool.submit(imported_after_cli).result(timeout=120) == []


def modules_after_import(argv: list[str]) -> set[str]:
    code = ("import sys; sys.argv = " + repr(argv) + "; import shopsentinel.cli; "
            "print(' '.join(m for m in " + repr(SERVICE_COMMANDS) + " if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    return set(done.stdout.split())


def test_shopsentinel_backtest_alone_skips_the_service_commands_and_other_commands_do_not() -> None:
    assert modules_after_import(["shopsentinel", "backtest", "DIR"]) == set()
    assert modules_after_import(["shopsentinel", "serve", "--help"]) == set(SERVICE_COMMANDS)
    assert modules_after_import(["shopsentinel"]) == set(SERVICE_COMMANDS)
