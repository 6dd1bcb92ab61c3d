"""The interactive API documentation, served whole by this server: Swagger UI at ``/docs`` and
ReDoc at ``/redoc``, their scripts, styles and icon under :data:`ASSETS`.

FastAPI's own pages load Swagger UI and ReDoc from a CDN at an unpinned major version (and
ReDoc's fonts from Google): what runs in the browser then changes without a release, and the
pages are blank offline. The files here come from the ``fastapi-offline`` package (its
``static/`` folder), so the version is the installed one, pinned by ``pyproject.toml``, and
the pages reference nothing outside this server. Swagger UI's validator badge (which would
send the spec's URL to an outside validator) is off.
"""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["ASSETS", "install_docs"]

ASSETS = "/docs-assets"


def install_docs(app: FastAPI) -> None:
    """Add ``/docs``, ``/redoc`` and the :data:`ASSETS` files to ``app`` (built with
    ``docs_url=None, redoc_url=None``); URLs honour the ASGI ``root_path``."""
    static = resources.files("fastapi_offline") / "static"
    app.mount(ASSETS, StaticFiles(directory=str(static)), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=root + openapi_url, title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/favicon.png", oauth2_redirect_url=None,
            swagger_ui_parameters={"validatorUrl": None})

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=root + openapi_url, title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS}/favicon.png", with_google_fonts=False)
