"""/v1/event-types: the catalogue of event types, their schemas and examples."""

from flask import Blueprint, Response

from api.auth import require_unbound
from api.http import json_body, query_args, respond
from api.openapi import documented
from api.schemas import (
    EventTypeCreate,
    EventTypeOut,
    EventTypePage,
    EventTypeQuery,
    EventTypeUpdate,
)
from api.services import services
from webhooks.events.catalogue import (
    EventTypeFields,
    create_type,
    delete_type,
    get_type,
    list_types,
    update_type,
)
from webhooks.times import utcnow

bp = Blueprint("event_types", __name__, url_prefix="/event-types")
WRITE = "change the event-type catalogue (it is shared by every tenant)"


@bp.post("")
@documented("Add an event type", EventTypeOut, status=201, body=EventTypeCreate, errors=(403, 409))
def create() -> Response:
    """Add a type; its schema must be a valid JSON Schema and its example must fit it."""
    require_unbound(WRITE)
    body = json_body(EventTypeCreate)
    fields = EventTypeFields(**body.model_dump(exclude={"data_schema"}), schema=body.data_schema)
    with services().sessions.begin() as session:
        entry = create_type(session, fields, utcnow())
        created = EventTypeOut.model_validate(entry)
    return respond(created, 201)


@bp.get("")
@documented("List event types", EventTypePage, query=EventTypeQuery)
def list_() -> Response:
    """List the catalogue by name; archived types only with `archived=true`."""
    query = query_args(EventTypeQuery)
    with services().sessions() as session:
        rows, cursor = list_types(
            session, archived=query.archived, limit=query.limit, after=query.cursor
        )
        page = EventTypePage(
            data=[EventTypeOut.model_validate(row) for row in rows], next_cursor=cursor
        )
    return respond(page)


@bp.get("/<name>")
@documented("Get an event type", EventTypeOut, errors=(404,))
def get(name: str) -> Response:
    """Return one catalogue entry."""
    with services().sessions() as session:
        return respond(EventTypeOut.model_validate(get_type(session, name)))


@bp.patch("/<name>")
@documented("Change an event type", EventTypeOut, body=EventTypeUpdate, errors=(403, 404))
def update(name: str) -> Response:
    """Change the description, schema, example or archived flag."""
    require_unbound(WRITE)
    body = json_body(EventTypeUpdate)
    given = {"schema" if f == "data_schema" else f for f in body.model_fields_set}
    fields = EventTypeFields(
        **body.model_dump(exclude={"data_schema"}), schema=body.data_schema, given=given
    )
    with services().sessions.begin() as session:
        entry = get_type(session, name)
        update_type(session, entry, fields, utcnow())
        updated = EventTypeOut.model_validate(entry)
    return respond(updated)


@bp.delete("/<name>")
@documented("Delete an event type", None, status=204, errors=(403, 404))
def delete(name: str) -> Response:
    """Remove a type from the catalogue (events of that type stay; archiving hides it instead)."""
    require_unbound(WRITE)
    with services().sessions.begin() as session:
        delete_type(session, get_type(session, name))
    return Response(status=204)
