"""Fake ERP: in-transit purchase orders per SKU, and purchase suggestions (bearer token).

``GET /api/v1/in-transit?sku=S`` → ``{"sku": S, "in_transit": n, "orders": [...]}`` plus
``lead_days`` (the supplier's replenishment lead time) when the fake was given one for the SKU;
``POST /api/v1/purchase-suggestions`` with ``{sku, store, quantity > 0, reason}`` → 201.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def create_erp_app(*, token: str, in_transit: dict[str, int] | None = None,
                   lead_days: dict[str, float] | None = None) -> Starlette:
    def authorized(request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {token}"

    async def transit(request: Request) -> JSONResponse:
        if not authorized(request):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        sku = request.query_params.get("sku", "")
        if not sku:
            return JSONResponse({"error": "sku is required"}, status_code=400)
        quantity = request.app.state.in_transit.get(sku, 0)
        orders = [{"po": f"PO-{sku}", "quantity": quantity, "eta_days": 3}] if quantity else []
        answer: dict[str, object] = {"sku": sku, "in_transit": quantity, "orders": orders}
        if sku in request.app.state.lead_days:
            answer["lead_days"] = request.app.state.lead_days[sku]
        return JSONResponse(answer)

    async def suggest(request: Request) -> JSONResponse:
        if not authorized(request):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        body = await request.json()
        quantity = body.get("quantity") if isinstance(body, dict) else None
        if not isinstance(quantity, int) or quantity <= 0 or not body.get("sku") or not body.get("store"):
            return JSONResponse({"error": "sku, store and a positive integer quantity are required"}, status_code=422)
        request.app.state.suggestions.append(body)
        return JSONResponse({"id": f"PS-{len(request.app.state.suggestions)}", "status": "pending_review"}, status_code=201)

    app = Starlette(routes=[Route("/api/v1/in-transit", transit, methods=["GET"]),
                            Route("/api/v1/purchase-suggestions", suggest, methods=["POST"])])
    app.state.in_transit = dict(in_transit or {})
    app.state.lead_days = dict(lead_days or {})
    app.state.suggestions = []
    return app


__all__ = ["create_erp_app"]
