"""What the request handlers share: settings, database, dispatcher, guard; built by the factory."""

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from webhooks.apikeys import KeyChecker
from webhooks.config import Settings
from webhooks.delivery.intake import Intake
from webhooks.delivery.queue import Dispatcher
from webhooks.endpoints import Registry
from webhooks.events.publisher import EventPublisher
from webhooks.security.guard import NetworkGuard
from webhooks.security.sealing import Keyring

EXTENSION = "webhooks"


@dataclass(frozen=True)
class Services:
    """The app's connections and configuration."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    dispatcher: Dispatcher
    publisher: EventPublisher
    intake: Intake
    guard: NetworkGuard
    keyring: Keyring
    registry: Registry
    keys: KeyChecker


def services() -> Services:
    """Return the services of the current app."""
    found: Services = current_app.extensions[EXTENSION]
    return found
