"""The event-type catalogue: what each type means, the schema its data must fit, an example."""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from referencing import Registry
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012
from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session

from webhooks.errors import Conflict, FieldError, InvalidInput, NotFound
from webhooks.events.matching import is_event_type
from webhooks.models import EventType, event_types_table

# The most field errors one refused event lists: enough to fix it, not a flood.
MAX_REPORTED_ERRORS = 10
# Looked up for every event received: a Core statement, not the ORM's Session.get, which
# cost the API a fifth of its time per event.
SCHEMA_OF = select(event_types_table.c.schema, event_types_table.c.archived).where(
    event_types_table.c.name == bindparam("name")
)


class UnusableSchema(Exception):
    """A schema that is valid JSON Schema but cannot be applied."""


@dataclass
class EventTypeFields:
    """What a caller may set on a catalogue entry; `given` holds the fields present."""

    name: str | None = None
    description: str | None = None
    schema: dict[str, Any] | None = None
    example: dict[str, Any] | None = None
    archived: bool | None = None
    given: set[str] = field(default_factory=set)


def create_type(session: Session, fields: EventTypeFields, now: datetime) -> EventType:
    """Add a type to the catalogue; 409 if the name is taken, 422 for a bad schema or example."""
    assert fields.name is not None
    if session.get(EventType, fields.name) is not None:
        raise Conflict(f"the event type {fields.name} is already in the catalogue")
    entry = EventType(
        name=fields.name,
        description=fields.description or "",
        schema=fields.schema,
        example=fields.example,
        archived=bool(fields.archived),
        created_at=now,
        updated_at=now,
    )
    _check_entry(entry)
    session.add(entry)
    session.flush()
    return entry


def update_type(session: Session, entry: EventType, fields: EventTypeFields, now: datetime) -> None:
    """Change the given fields (`schema` and `example` may be set to null to remove them)."""
    for name in ("description", "archived"):
        value = getattr(fields, name)
        if value is not None:
            setattr(entry, name, value)
    for name in ("schema", "example"):
        if name in fields.given:
            setattr(entry, name, getattr(fields, name))
    _check_entry(entry)
    entry.updated_at = now
    session.flush()


def get_type(session: Session, name: str) -> EventType:
    """The catalogue entry called `name`, or 404."""
    # A name no event could have is looked up nowhere (a NUL would upset PostgreSQL).
    entry = session.get(EventType, name) if is_event_type(name) else None
    if entry is None:
        raise NotFound(f"no event type {name} in the catalogue")
    return entry


def delete_type(session: Session, entry: EventType) -> None:
    """Remove a type from the catalogue; events of that type are kept as they are."""
    session.delete(entry)
    session.flush()


def list_types(
    session: Session, *, archived: bool = False, limit: int = 250, after: str | None = None
) -> tuple[Sequence[EventType], str | None]:
    """One page of the catalogue, by name; archived entries only when asked for."""
    query = select(EventType).order_by(EventType.name).limit(limit + 1)
    if not archived:
        query = query.where(EventType.archived.is_(False))
    if after is not None:
        query = query.where(EventType.name > after)
    rows = session.scalars(query).all()
    if len(rows) > limit:
        return rows[:limit], rows[limit - 1].name
    return rows, None


def check_event(
    conn: Connection, event_type: str, data: dict[str, Any], *, require_known: bool
) -> None:
    """Refuse an event whose type is unknown (when required) or whose data breaks its schema."""
    entry = conn.execute(SCHEMA_OF, {"name": event_type}).one_or_none()
    check_entry(entry, event_type, data, require_known=require_known)


def check_entry(
    entry: Any | None, event_type: str, data: dict[str, Any], *, require_known: bool
) -> None:
    """Refuse an event by its type's row of SCHEMA_OF (None when the type is not listed)."""
    if entry is None or entry.archived:
        if require_known:
            state = "archived" if entry is not None else "not in the catalogue"
            raise InvalidInput.field(("type",), f"the event type {event_type} is {state}")
        return
    if entry.schema is not None:
        try:
            errors = data_errors(entry.schema, data, ("data",))
        except UnusableSchema as exc:
            # The catalogue's fault, not the sender's; still refused: nothing goes out unchecked.
            raise InvalidInput.field(
                ("type",), f"the catalogue's schema of {event_type} cannot be applied: {exc}"
            ) from None
        if errors:
            raise InvalidInput(f"data does not fit the schema of {event_type}", errors)


def data_errors(
    schema: dict[str, Any], data: Any, prefix: tuple[str | int, ...]
) -> tuple[FieldError, ...]:
    """Where `data` breaks `schema`, one error per place, the shallowest first.

    Raises UnusableSchema for a schema that cannot be applied to this data (a $ref to nowhere,
    or one that refers to itself without end).
    """
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    try:
        found = sorted(validator.iter_errors(data), key=lambda e: (len(e.absolute_path), e.message))
    except Unresolvable as exc:
        raise UnusableSchema(f"$ref {exc.ref!r} points nowhere") from None
    except RecursionError:
        raise UnusableSchema("its $refs loop without end") from None
    return tuple(
        FieldError(prefix + tuple(error.absolute_path), error.message)
        for error in found[:MAX_REPORTED_ERRORS]
    )


def _check_refs(schema: dict[str, Any]) -> None:
    """Refuse a $ref that leaves the schema (nothing is fetched at ingest) or points nowhere."""
    root = "urn:webhooks:schema"
    resolver = (
        Registry().with_resource(root, DRAFT202012.create_resource(schema)).resolver(base_uri=root)
    )
    for ref in _refs(schema):
        if not ref.startswith("#"):
            raise InvalidInput.field(
                ("schema",), f"$ref {ref!r} points outside the schema; use '#/...' refs"
            )
        try:
            resolver.lookup(ref)
        except Unresolvable:
            raise InvalidInput.field(("schema",), f"$ref {ref!r} points nowhere") from None


def _refs(schema: Any) -> Iterator[str]:
    stack = [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str):
                yield ref
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _check_entry(entry: EventType) -> None:
    if entry.schema is not None:
        try:
            Draft202012Validator.check_schema(entry.schema)
        except SchemaError as exc:
            where = "/".join(str(part) for part in exc.absolute_path) or "the root"
            raise InvalidInput.field(
                ("schema",), f"not a valid JSON Schema at {where}: {exc.message}"
            ) from None
        _check_refs(entry.schema)
        try:
            # Applied once now (to the example, or to {}), so that a broken $ref shows here.
            errors = data_errors(entry.schema, entry.example or {}, ("example",))
        except UnusableSchema as exc:
            raise InvalidInput.field(("schema",), f"the schema cannot be applied: {exc}") from None
        if errors and entry.example is not None:
            raise InvalidInput("the example does not fit the schema", errors)
