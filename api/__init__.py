"""The HTTP API: `create_app(settings)` builds it; api/server (a gunicorn worker) serves it."""

from flask import Blueprint, Flask
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from api import api_keys, deliveries, endpoints, event_types, events, metrics, ops, portal
from api.auth import authenticate
from api.bodies import BoundedRequest
from api.console import install_console
from api.errors import register_error_handlers
from api.http import IdConverter
from api.requests_log import register_request_log
from api.services import EXTENSION, Services
from api.tracing import instrument_api
from webhooks.apikeys import KeyChecker, any_key_stored
from webhooks.config import Settings
from webhooks.db import make_engine, make_sessions
from webhooks.delivery.intake import Intake
from webhooks.delivery.queue import Dispatcher
from webhooks.delivery.throttle import Throttle
from webhooks.endpoints import Registry
from webhooks.errors import ConfigError
from webhooks.events.publisher import EventPublisher
from webhooks.observability.logs import configure_logging
from webhooks.security.guard import NetworkGuard, Resolver
from webhooks.security.sealed_rows import check_sealed_rows
from webhooks.security.sealing import Keyring
from webhooks.security.urls import UrlPolicy


def create_app(
    settings: Settings | None = None,
    *,
    dispatcher: Dispatcher | None = None,
    resolver: Resolver | None = None,
) -> Flask:
    """Build the API for `settings` (read from the environment when not given).

    `resolver` replaces DNS for the registration checks (tests answer from a table).
    """
    settings = settings or Settings.from_env()
    keyring = Keyring.from_settings(settings)
    # No ping per checkout (a round trip per request): after a database restart the first
    # request to find a dead connection invalidates the whole pool. Sending an event retries
    # that once by itself (webhooks/events/fanout.py); another request answers 503 once.
    engine = make_engine(settings.database_url, pre_ping=False)
    try:
        _check_start(settings, engine, keyring)
    except ConfigError:
        engine.dispose()
        raise
    if dispatcher is None:
        from worker.dispatch import CeleryDispatcher

        dispatcher = CeleryDispatcher.from_settings(settings)
    configure_logging(settings.log_level, settings.log_format)
    app = Flask(__name__)
    app.request_class = BoundedRequest
    app.extensions[metrics.EXTENSION] = metrics.ApiCounters.create(settings.metrics_dir)
    register_request_log(app)
    instrument_api(app, settings)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_payload_bytes
    app.url_map.converters["id"] = IdConverter
    guard = NetworkGuard(settings.allow_networks, resolver)
    keys = KeyChecker(settings.api_keys, engine, settings.secret_key)
    app.extensions[EXTENSION] = Services(
        settings=settings,
        engine=engine,
        sessions=make_sessions(engine),
        dispatcher=dispatcher,
        publisher=EventPublisher(engine),
        intake=Intake(
            engine,
            dispatcher,
            Throttle.from_settings(settings),
            settings.max_in_flight_per_endpoint,
        ),
        guard=guard,
        keyring=keyring,
        registry=Registry(UrlPolicy.from_settings(settings, guard), keyring),
        keys=keys,
    )
    register_error_handlers(app)
    # Everything under /v1 needs a key; the probes and the document do not.
    v1 = Blueprint("v1", __name__, url_prefix="/v1")
    v1.before_request(authenticate)
    for module in (endpoints, events, deliveries, event_types, portal, api_keys):
        v1.register_blueprint(module.bp)
    app.register_blueprint(v1)
    app.register_blueprint(ops.bp)
    install_console(app, settings)
    return app


def _check_start(settings: Settings, engine: Engine, keyring: Keyring) -> None:
    """Refuse to start with keys that cannot open the database, or with no API key at all."""
    check_sealed_rows(engine, keyring)
    if settings.api_keys:
        return
    try:
        stored = any_key_stored(engine)
    except DBAPIError:
        # Nothing is open meanwhile: every request is checked against the database.
        return
    if not stored:
        # Auth is never off by accident: without a key there is no API.
        raise ConfigError(
            "no API key: set WEBHOOKS_API_KEYS (key or key:tenant), or create one with "
            "`webhooks api-keys create`"
        )
