"""Reading requests and writing responses through the schemas."""

import json
from collections.abc import Sequence
from typing import Any, TypeVar

from flask import Response, jsonify, request
from pydantic import BaseModel, ValidationError
from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session

from api.errors import BadRequest, field_errors
from webhooks.errors import InvalidInput

Model = TypeVar("Model", bound=BaseModel)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def json_body(model: type[Model]) -> Model:
    """Parse the body as JSON (400 if it isn't) and validate it (422 if it doesn't fit)."""
    raw = request.get_data(cache=True)  # over MAX_CONTENT_LENGTH raises 413 here
    try:
        # NaN and Infinity are not JSON, and no receiver could parse them.
        data = json.loads(raw or b"null", parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput("the request has invalid fields", field_errors(exc)) from None


def query_args(model: type[Model]) -> Model:
    """Validate the query string against `model` (422 on a bad value)."""
    args = {key: request.args.get(key) for key in request.args}
    try:
        return model.model_validate(args)
    except ValidationError as exc:
        errors = field_errors(exc, prefix=("query",))
        raise InvalidInput("the query has invalid parameters", errors) from None


def respond(model: BaseModel, status: int = 200) -> Response:
    """Serialise a response model."""
    response = jsonify(model.model_dump(mode="json"))
    response.status_code = status
    return response


def paginate(
    session: Session,
    query: Select[Any],
    id_column: InstrumentedAttribute[str],
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Any], str | None]:
    """Return one page, newest first, and the cursor of the next one (ids sort by time)."""
    if cursor is not None:
        query = query.where(id_column < cursor)
    rows = session.scalars(query.order_by(id_column.desc()).limit(limit + 1)).all()
    if len(rows) > limit:
        return rows[:limit], rows[limit - 1].id
    return rows, None
