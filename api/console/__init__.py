"""The operator console at /console and the customer portal: server-rendered, one blueprint."""

import logging

from flask import Flask

from api.console import (  # noqa: F401 - each module adds its pages to the blueprint
    access,
    catalogue,
    deliveries,
    endpoint_actions,
    endpoints,
    events,
    overview,
)
from api.console.blueprint import OPERATOR_PREFIX, PORTAL, PORTAL_PREFIX, bp
from api.console.tokens import NO_SECRET_KEY
from api.console.viewer import ConsoleSessions
from webhooks.config import Settings

log = logging.getLogger(__name__)


def install_console(app: Flask, settings: Settings) -> None:
    """Serve the console and the portal; without a secret key they answer 503 saying so."""
    if settings.secret_key is None:
        # The JSON API works without it; the console cannot sign anything.
        log.warning(NO_SECRET_KEY)
    else:
        app.secret_key = settings.secret_key
    app.session_interface = ConsoleSessions()
    app.config.update(
        SESSION_COOKIE_NAME="webhooks_console",
        SESSION_COOKIE_PATH=OPERATOR_PREFIX,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
    )
    app.register_blueprint(bp, url_prefix=OPERATOR_PREFIX)
    app.register_blueprint(bp, url_prefix=PORTAL_PREFIX, name=PORTAL)
