"""The HTTP API: `create_app(settings)` builds it; api/server (a gunicorn worker) serves it."""

from flask import Blueprint, Flask

from api import deliveries, endpoints, events, metrics, ops
from api.auth import authenticator
from api.bodies import BoundedRequest
from api.errors import register_error_handlers
from api.http import IdConverter
from api.requests_log import register_request_log
from api.services import EXTENSION, Services
from api.tracing import instrument_api
from webhooks.config import Settings
from webhooks.db import make_engine, make_sessions
from webhooks.delivery.queue import Dispatcher
from webhooks.errors import ConfigError
from webhooks.observability.logs import configure_logging
from webhooks.security.guard import NetworkGuard


def create_app(settings: Settings | None = None, *, dispatcher: Dispatcher | None = None) -> Flask:
    """Build the API for `settings` (read from the environment when not given)."""
    settings = settings or Settings.from_env()
    if not settings.api_keys:
        # Auth is never off by accident: without a key there is no API.
        raise ConfigError("WEBHOOKS_API_KEYS is empty: set at least one key (key or key:tenant)")
    if dispatcher is None:
        from worker.dispatch import CeleryDispatcher

        dispatcher = CeleryDispatcher.from_settings(settings)
    configure_logging(settings.log_level, settings.log_format)
    app = Flask(__name__)
    app.request_class = BoundedRequest
    app.extensions[metrics.EXTENSION] = metrics.ApiCounters.create()
    register_request_log(app)
    instrument_api(app, settings)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_payload_bytes
    app.url_map.converters["id"] = IdConverter
    engine = make_engine(settings.database_url)
    app.extensions[EXTENSION] = Services(
        settings=settings,
        engine=engine,
        sessions=make_sessions(engine),
        dispatcher=dispatcher,
        guard=NetworkGuard(settings.allow_networks),
    )
    register_error_handlers(app)
    # Everything under /v1 needs a key; the probes and the document do not.
    v1 = Blueprint("v1", __name__, url_prefix="/v1")
    v1.before_request(authenticator(settings.api_keys))
    for module in (endpoints, events, deliveries):
        v1.register_blueprint(module.bp)
    app.register_blueprint(v1)
    app.register_blueprint(ops.bp)
    return app
