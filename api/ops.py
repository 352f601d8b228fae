"""Health, readiness and the OpenAPI document: no auth."""

from typing import Literal

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from api.http import respond
from api.openapi import build_document, documented
from api.schemas import Health, Readiness
from api.services import services
from webhooks.errors import Unavailable

bp = Blueprint("ops", __name__)
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
    ready = database == broker == "ok"
    status: Status = "ok" if ready else "unavailable"
    return respond(
        Readiness(status=status, database=database, broker=broker), 200 if ready else 503
    )


@bp.get("/openapi.json")
def openapi() -> Response:
    """Return the OpenAPI 3.1 document."""
    return jsonify(build_document(current_app))
