"""Reading requests and writing responses through the schemas."""

import json
import math
from typing import Any, TypeVar

from flask import Response, jsonify, request
from pydantic import BaseModel, ValidationError
from werkzeug.routing import BaseConverter, Map

from api.errors import BadRequest, field_errors
from webhooks.errors import InvalidInput
from webhooks.ids import id_pattern

Model = TypeVar("Model", bound=BaseModel)
# Deeper documents are refused: nobody's webhook needs them, and serialising them again
# (for the receiver, for GET /v1/events/{id}) would hit recursion limits.
MAX_JSON_DEPTH = 64


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        # 1e400 parses as infinity, which would be re-sent to receivers as `Infinity`.
        raise ValueError(f"the number {text[:32]} is too large")
    return value


def _checked_depth(value: Any) -> int:
    """How many arrays and objects deep `value` is; refuse a string that is no text.

    Iterative (no recursion limit), and one walk for both checks. A lone surrogate escape
    (\\ud800) parses, but is no character: it can be neither stored nor sent as UTF-8.
    """
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            deepest = max(deepest, level)
            stack.extend((key, level) for key in item)
            stack.extend((child, level + 1) for child in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in item)
        elif isinstance(item, str) and not item.isascii():
            try:
                item.encode()
            except UnicodeEncodeError:
                raise BadRequest(
                    "the body is not valid JSON: a string holds a lone surrogate"
                ) from None
    return deepest


def json_body(model: type[Model]) -> Model:
    """Parse the body as JSON (400 if it isn't) and validate it (422 if it doesn't fit)."""
    raw = request.get_data(cache=True)  # over MAX_CONTENT_LENGTH raises 413 here
    try:
        # NaN and Infinity are not JSON, and no receiver could parse them.
        data = json.loads(
            raw or b"null", parse_constant=_reject_constant, parse_float=_finite_float
        )
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from None
    if _checked_depth(data) > MAX_JSON_DEPTH + 1:
        fields = data.items() if isinstance(data, dict) else ()
        loc = next(
            ((name,) for name, value in fields if _checked_depth(value) > MAX_JSON_DEPTH), ()
        )
        raise InvalidInput.field(loc, f"nested deeper than {MAX_JSON_DEPTH} levels")
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


class IdConverter(BaseConverter):
    """A path segment shaped like an id of one type (`<id(ep):endpoint_id>`); else a plain 404.

    Checking the shape here keeps arbitrary bytes (a NUL, which PostgreSQL refuses in text)
    away from the database.
    """

    def __init__(self, url_map: Map, prefix: str) -> None:
        super().__init__(url_map)
        self.regex = id_pattern(prefix)
