"""The terminal output shared by every CLI command: one stdout console, one stderr console, one error line.

Error text is printed as-is: never wrapped (a path in a message must stay greppable and copyable) and never read as
Rich markup (a message may quote a value such as ``[1,2]``).
"""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

console = Console()
err = Console(stderr=True)


def fail(message: object, code: int = 2) -> NoReturn:
    """Print ``错误 / error: message`` on stderr and leave the command with ``code``."""
    err.print(f"[bold red]错误 / error:[/] {escape(str(message))}", soft_wrap=True)
    raise typer.Exit(code=code)
