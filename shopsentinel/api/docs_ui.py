"""The interactive API docs without a CDN: Swagger UI (``/docs``) and ReDoc (``/redoc``) load their
scripts, styles and favicon from the installed ``fastapi-offline`` package, served under
``/docs/assets``, so the docs work offline and their Content-Security-Policy names no external host.

FastAPI's own pages load from cdn.jsdelivr.net; ``create_app`` turns them off (``docs_url=None,
redoc_url=None``) and calls ``install``. The pages stay public, as before: anyone may read the API's
shape, every call still needs a token.

The pages are the same for every request, so they are rendered once; the Swagger UI page's inline start
script and the OAuth2 redirect page's script are allowed by their SHA-256 in ``CONTENT_SECURITY_POLICY``
(never ``'unsafe-inline'`` for scripts). ReDoc and Swagger UI inject ``<style>`` elements and style
attributes at run time, so inline styles are allowed; ReDoc's search runs in a ``blob:`` worker.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_PATH = "/docs/assets"
ASSETS_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
SWAGGER_PATH = "/docs"
REDOC_PATH = "/redoc"
OAUTH2_REDIRECT_PATH = "/docs/oauth2-redirect"
OPENAPI_PATH = "/openapi.json"
TITLE = "ShopSentinel"

SWAGGER_PAGE = bytes(get_swagger_ui_html(
    openapi_url=OPENAPI_PATH,
    title=f"{TITLE} - Swagger UI",
    swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
    swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
    swagger_favicon_url=f"{ASSETS_PATH}/favicon.png",
    oauth2_redirect_url=OAUTH2_REDIRECT_PATH,
).body)
REDOC_PAGE = bytes(get_redoc_html(
    openapi_url=OPENAPI_PATH,
    title=f"{TITLE} - ReDoc",
    redoc_js_url=f"{ASSETS_PATH}/redoc.standalone.js",
    redoc_favicon_url=f"{ASSETS_PATH}/favicon.png",
    with_google_fonts=False,
).body)
OAUTH2_REDIRECT_PAGE = bytes(get_swagger_ui_oauth2_redirect_html().body)

_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL)


def inline_script_hashes(*pages: bytes) -> list[str]:
    """The CSP source of each inline ``<script>`` body of ``pages`` (``'sha256-…'``), in order, once."""
    found: list[str] = []
    for page in pages:
        for body in _INLINE_SCRIPT.findall(page):
            source = "'sha256-" + base64.b64encode(hashlib.sha256(body).digest()).decode() + "'"
            if source not in found:
                found.append(source)
    return found


CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; script-src 'self' {' '.join(inline_script_hashes(SWAGGER_PAGE, OAUTH2_REDIRECT_PAGE))}; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; connect-src 'self'; "
    "worker-src 'self' blob:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
DOCS_PATHS = frozenset({SWAGGER_PATH, REDOC_PATH, OAUTH2_REDIRECT_PATH})


def install(app: FastAPI) -> None:
    """Serve the docs assets and the three pages on ``app`` (created with ``docs_url=None, redoc_url=None``)."""
    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS_DIR), name="docs-assets")

    @app.get(SWAGGER_PATH, include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return HTMLResponse(SWAGGER_PAGE)

    @app.get(OAUTH2_REDIRECT_PATH, include_in_schema=False)
    async def swagger_ui_oauth2_redirect() -> HTMLResponse:
        return HTMLResponse(OAUTH2_REDIRECT_PAGE)

    @app.get(REDOC_PATH, include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return HTMLResponse(REDOC_PAGE)


__all__ = ["ASSETS_PATH", "CONTENT_SECURITY_POLICY", "DOCS_PATHS", "inline_script_hashes", "install"]
