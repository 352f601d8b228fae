"""/v1/api-keys: make, list and revoke API keys at runtime (with a key bound to no tenant)."""

from flask import Blueprint, Response
from sqlalchemy import select

from api.auth import require_unbound
from api.http import json_body, query_args, respond
from api.openapi import documented
from api.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut, Page, PageQuery
from api.services import services
from webhooks.apikeys import create_key, revoke_key
from webhooks.errors import NotFound
from webhooks.lists import paginate
from webhooks.models import ApiKeyRecord
from webhooks.times import utcnow

bp = Blueprint("api_keys", __name__, url_prefix="/api-keys")
# Every route here: a key bound to a tenant gets 403.
bp.before_request(lambda: require_unbound("manage API keys"))


@bp.post("")
@documented("Create an API key", ApiKeyCreated, status=201, body=ApiKeyCreate, errors=(403,))
def create() -> Response:
    """Make a key; the answer shows it once, the database keeps only its hash."""
    body = json_body(ApiKeyCreate)
    with services().sessions.begin() as session:
        record, key = create_key(session, body.tenant, body.description, utcnow())
        created = ApiKeyCreated(
            id=record.id,
            key=key,
            prefix=record.prefix,
            tenant=record.tenant,
            description=record.description,
            created_at=record.created_at,
        )
    return respond(created, 201)


@bp.get("")
@documented("List API keys", Page[ApiKeyOut], query=PageQuery, errors=(403,))
def list_() -> Response:
    """List the keys made at runtime, newest first (never the keys themselves)."""
    query = query_args(PageQuery)
    with services().sessions() as session:
        rows, cursor = paginate(
            session, select(ApiKeyRecord), ApiKeyRecord.id, query.limit, query.cursor
        )
        page = Page[ApiKeyOut](
            data=[ApiKeyOut.model_validate(row) for row in rows], next_cursor=cursor
        )
    return respond(page)


@bp.delete("/<id(key):key_id>")
@documented("Revoke an API key", None, status=204, errors=(403, 404))
def delete(key_id: str) -> Response:
    """Delete a key: every API process refuses it from the next request on."""
    with services().sessions.begin() as session:
        if not revoke_key(session, key_id):
            raise NotFound(f"no API key {key_id}")
    return Response(status=204)
