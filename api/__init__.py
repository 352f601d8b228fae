"""The HTTP API: `create_app(settings)` builds it; `gunicorn 'api:create_app()'` serves it."""

import logging

from flask import Flask

from api import deliveries, endpoints, events, ops
from api.auth import install_auth
from api.errors import register_error_handlers
from api.http import IdConverter
from api.services import EXTENSION, Services
from webhooks.config import Settings
from webhooks.db import make_engine, make_sessions
from webhooks.errors import ConfigError
from webhooks.guard import NetworkGuard
from webhooks.queue import Dispatcher


def create_app(settings: Settings | None = None, *, dispatcher: Dispatcher | None = None) -> Flask:
    """Build the API for `settings` (read from the environment when not given)."""
    settings = settings or Settings.from_env()
    if not settings.api_keys:
        # Auth is never off by accident: without a key there is no API.
        raise ConfigError("WEBHOOKS_API_KEYS is empty: set at least one key (key or key:tenant)")
    if dispatcher is None:
        from worker.dispatch import CeleryDispatcher

        dispatcher = CeleryDispatcher.from_settings(settings)
    logging.getLogger("webhooks").setLevel(settings.log_level)
    app = Flask(__name__)
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
    install_auth(app, settings.api_keys)
    register_error_handlers(app)
    for module in (endpoints, events, deliveries, ops):
        app.register_blueprint(module.bp)
    return app
