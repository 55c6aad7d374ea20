"""The runnable examples in the notify docstrings stay true."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "shopsentinel.notify",
    "shopsentinel.notify.base",
    "shopsentinel.notify.digest",
    "shopsentinel.notify.templates",
    "shopsentinel.notify.links",
    "shopsentinel.notify.registry",
    "shopsentinel.notify.log_redaction",
    "shopsentinel.notify.channels.aliyun_signing",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0
