"""The backend API's interactive docs, `/api/v1/docs`: Swagger UI from the installed package, never from a CDN.

FastAPI's own docs page loads Swagger UI's script from a CDN without subresource integrity, on the buyer
app's origin, and is blank offline. This page loads its script, stylesheet and icon from the same origin
(fastapi-offline ships Swagger UI 5's files; they are served as they are in the wheel), starts Swagger UI
from a script of its own rather than an inline one, and says so in its Content-Security-Policy: scripts,
styles, fetches and images from this origin only (and the stylesheet's `data:` icons), no inline script,
no eval. Every path here is open without an API key (`ApiKeyGate.OPEN` in web/api.py lists them).
"""

from html import escape
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

DOCS = "/docs"
ASSETS = Path(fastapi_offline.__file__).parent / "static"
# Each file of Swagger UI the page loads, with the content type it is served as (`nosniff` holds them to it).
FILES = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon.png": "image/png",
}
INIT = "init.js"
# The paths the docs need, under the API's root: none of them needs an API key.
OPEN_PATHS = (DOCS, *(f"{DOCS}/{name}" for name in (*FILES, INIT)))

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

# Swagger UI started as FastAPI starts it, with the OpenAPI address from the page, and no validator badge
# (Swagger UI would load it from validator.swagger.io).
INIT_SCRIPT = """window.addEventListener("load", function () {
  var node = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: node.dataset.openapi,
    domNode: node,
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
});
"""

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{title} - Swagger UI</title>
<link rel="stylesheet" href="{base}/swagger-ui.css">
<link rel="icon" type="image/png" href="{base}/favicon.png">
</head>
<body>
<div id="swagger-ui" data-openapi="{openapi}"></div>
<script src="{base}/swagger-ui-bundle.js"></script>
<script src="{base}/{init}"></script>
</body>
</html>
"""


def mount_docs(api: FastAPI) -> None:
    """Serves the docs page at DOCS and its files beneath it (create the app with `docs_url=None`)."""
    missing = [name for name in FILES if not (ASSETS / name).is_file()]
    if missing:
        raise RuntimeError(f"fastapi-offline ships no {', '.join(missing)} in {ASSETS}: the API docs cannot be served")

    @api.get(DOCS, include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = PAGE.format(
            title=escape(api.title),
            base=escape(f"{root}{DOCS}"),
            openapi=escape(f"{root}{api.openapi_url}"),
            init=INIT,
        )
        return HTMLResponse(page, headers={"content-security-policy": CONTENT_SECURITY_POLICY})

    @api.get(f"{DOCS}/{INIT}", include_in_schema=False)
    async def init() -> Response:
        return Response(INIT_SCRIPT, media_type="text/javascript; charset=utf-8")

    for name, media_type in FILES.items():
        api.add_api_route(f"{DOCS}/{name}", _file(name, media_type), include_in_schema=False, methods=["GET"])


def _file(name: str, media_type: str):
    async def asset() -> FileResponse:
        return FileResponse(ASSETS / name, media_type=media_type)

    asset.__name__ = f"docs_{name.replace('-', '_').replace('.', '_')}"
    return asset
