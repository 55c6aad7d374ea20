"""``shopsentinel stock-groups``: declare shared-stock groups from a CSV into the running service.

    shopsentinel stock-groups import groups.csv --url http://127.0.0.1:8000 --token $TOKEN
    shopsentinel stock-groups list --url http://127.0.0.1:8000 --token $TOKEN

The CSV is ``group,platform,store,sku[,tolerance,lag_hours,reference]`` (one row per member; a bad cell
names the file, line and column before anything is sent). The groups go through the service's
``PUT /api/v1/stock-groups/{name}``, so the CLI never opens the sync database the service holds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

stock_groups_app = typer.Typer(help="Shared-stock groups (共享库存组) compared by the 库存同步 check.", no_args_is_help=True)

Url = Annotated[str, typer.Option("--url", envvar="SHOPSENTINEL_URL", help="the running service")]
Token = Annotated[str | None, typer.Option("--token", envvar="SHOPSENTINEL_TOKEN", help="API token (editor)")]


def _call(url: str, token: str | None, method: str, path: str, body: Any = None) -> Any:
    import httpx

    from shopsentinel.cli.remote import checked, unreachable

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.request(method, f"{url.rstrip('/')}{path}", json=body, headers=headers, timeout=30.0)
    except httpx.HTTPError as exc:
        raise unreachable(url, exc) from None
    checked(response, "请求 / the service refused the request")
    return response.json() if response.content else None


@stock_groups_app.command("import")
def import_groups(file: Annotated[Path, typer.Argument(help="CSV: group,platform,store,sku[,tolerance,lag_hours,reference]")],
                  url: Url, token: Token = None) -> None:
    """Declare (or replace) every group of the CSV in the running service."""
    from urllib.parse import quote

    from shopsentinel.core.console import console, fail
    from shopsentinel.core.errors import InputError
    from shopsentinel.ingest.sync_stores import read_stock_groups

    try:
        groups = read_stock_groups(file)
        for group in groups:
            _call(url, token, "PUT", f"/api/v1/stock-groups/{quote(group.name, safe='')}", {
                "members": [{"platform": m.platform, "store": m.store, "sku": m.sku, "reference": m.reference}
                            for m in group.members],
                "tolerance": group.tolerance, "lag_hours": group.lag_hours})
    except (InputError, OSError) as exc:
        fail(str(exc))
    console.print(f"已声明 {len(groups)} 个共享库存组 / declared {len(groups)} shared-stock groups")


@stock_groups_app.command("list")
def list_groups(url: Url, token: Token = None) -> None:
    """The declared groups and their members."""
    from shopsentinel.core.console import console, fail
    from shopsentinel.core.errors import InputError

    try:
        groups = _call(url, token, "GET", "/api/v1/stock-groups")
    except InputError as exc:
        fail(str(exc))
    for group in groups:
        members = ", ".join(f"{m['platform']}/{m['store']}/{m['sku']}{'（基准）' if m['reference'] else ''}"
                            for m in group["members"])
        console.print(f"{group['name']}: {members}（容差 {group['tolerance']:g}，延迟 {group['lag_hours']:g} 小时）")


__all__ = ["stock_groups_app"]
