"""Benchmark results: printed as JSON lines and appended to ``bench/results/NAME.jsonl`` so every run
is kept (the docs quote these files)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def record(path: Path, *results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        for result in results:
            print(json.dumps(result))
            fh.write(json.dumps(result) + "\n")
