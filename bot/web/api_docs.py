"""``GET /api/docs``: the API's OpenAPI document as an interactive page (Swagger UI).

Public, like ``GET /api/openapi.json``: the page shows only that document, which holds no data.
"Try it out" sends the token the reader types in (Swagger UI's "Authorize" dialog keeps it in
the tab, never in a cookie or storage), and every call is checked by the API as any other.

Swagger UI's two files are served from ``static/swagger-ui/``: copies of the npm package
``swagger-ui-dist`` at the version ``package.json`` pins (a test compares them byte for byte
with the package ``npm ci`` installs), so a server needs no npm and loads nothing from another
site. Our own ``static/api-docs.js`` starts it: the page has no inline script.
"""

from flask import Blueprint, render_template, url_for

bp = Blueprint("api_docs", __name__, url_prefix="/api")


@bp.get("/docs")
def page():
    return render_template("api_docs.html", document=url_for("api.openapi_document"))
