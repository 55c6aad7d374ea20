"""Fake ads platform (直通车 / 京准通 style): plans with today's stats, and pausing a plan.

``GET /api/v1/plans?store=S`` → ``{"plans": [{id, name, status, spend, clicks, orders, gmv}]}``;
``POST /api/v1/plans/{id}/pause`` → the plan with ``status: paused`` (bearer token).
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def create_ads_app(*, token: str, plans: dict[str, list[dict[str, Any]]] | None = None) -> Starlette:
    def authorized(request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {token}"

    async def list_plans(request: Request) -> JSONResponse:
        if not authorized(request):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        store = request.query_params.get("store", "")
        return JSONResponse({"plans": request.app.state.plans.get(store, [])})

    async def pause(request: Request) -> JSONResponse:
        if not authorized(request):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        plan_id = request.path_params["plan_id"]
        for plans in request.app.state.plans.values():
            for plan in plans:
                if plan["id"] == plan_id:
                    plan["status"] = "paused"
                    request.app.state.paused.append(plan_id)
                    return JSONResponse(plan)
        return JSONResponse({"error": "no such plan"}, status_code=404)

    app = Starlette(routes=[Route("/api/v1/plans", list_plans, methods=["GET"]),
                            Route("/api/v1/plans/{plan_id}/pause", pause, methods=["POST"])])
    app.state.plans = {k: [dict(p) for p in v] for k, v in (plans or {}).items()}
    app.state.paused = []
    return app


__all__ = ["create_ads_app"]
