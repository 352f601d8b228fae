"""Health, readiness and the OpenAPI document: no auth."""

from typing import Literal

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from api import metrics
from api.errors import problem
from api.http import respond
from api.openapi import build_document, documented
from api.schemas import Health, Readiness
from api.services import services
from webhooks.errors import Unavailable
from webhooks.times import utcnow

bp = Blueprint("ops", __name__)
OPENAPI = "webhooks.openapi"
Status = Literal["ok", "unavailable"]


@bp.get("/healthz")
@documented("The process is up", Health, public=True)
def healthz() -> Response:
    """Answer while the process runs."""
    return respond(Health(status="ok"))


@bp.get("/readyz")
@documented("The database and the broker answer", Readiness, public=True, errors=(503,))
def readyz() -> Response:
    """Check the database and the broker; 503 naming whichever does not answer."""
    app = services()
    database: Status = "ok"
    broker: Status = "ok"
    try:
        with app.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except DBAPIError:
        database = "unavailable"
    try:
        app.dispatcher.ping()
    except Unavailable:
        broker = "unavailable"
    if database == broker == "ok":
        return respond(Readiness(status="ok", database=database, broker=broker))
    down = [name for name, state in (("database", database), ("broker", broker)) if state != "ok"]
    # A problem document like every other error, with the state of each dependency.
    return problem(
        503,
        f"not ready: the {' and the '.join(down)} did not answer",
        "Service unavailable",
        database=database,
        broker=broker,
    )


@bp.get("/metrics")
@documented("Prometheus metrics", None, public=True, errors=(503,), media_type=metrics.CONTENT_TYPE)
def prometheus() -> Response:
    """Report the delivery backlog and the endpoints' state."""
    with services().sessions() as session:
        body, content_type = metrics.render(session, utcnow(), request.headers.get("Accept"))
    return Response(body, content_type=content_type)


@bp.get("/openapi.json")
def openapi() -> Response:
    """Return the OpenAPI 3.1 document (built on first request: the routes don't change)."""
    extensions = current_app.extensions
    if OPENAPI not in extensions:
        extensions[OPENAPI] = build_document(current_app)
    return jsonify(extensions[OPENAPI])
