"""The event-type catalogue, as the operator sees it (it is managed through /v1/event-types)."""

import json

from flask import Response

from api.console.blueprint import bp
from api.console.pages import render
from api.services import services
from webhooks.events.catalogue import list_types


@bp.get("/event-types")
def event_types() -> Response:
    """List the catalogue with each type's schema and example."""
    with services().sessions() as session:
        types, _ = list_types(session, archived=True)
    shown = {
        entry.name: {
            "schema": _pretty(entry.schema),
            "example": _pretty(entry.example),
        }
        for entry in types
    }
    return render("event_types.html", types=types, shown=shown)


def _pretty(value: object) -> str | None:
    return None if value is None else json.dumps(value, indent=2, ensure_ascii=False)
