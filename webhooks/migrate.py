"""Bring a database to the latest schema; safe to run twice, and twice at once."""

from importlib.resources import files

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from webhooks.security.sealing import Keyring

# Any fixed number: it names the lock that serialises concurrent `release` runs.
MIGRATION_LOCK_ID = 7_420_331_017


def upgrade(database_url: str, revision: str = "head", *, keyring: Keyring | None = None) -> None:
    """Run every pending migration; `keyring` seals what a migration must store sealed."""
    config = Config()
    config.set_main_option("script_location", str(files("migrations")))
    config.attributes["keyring"] = keyring
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                # Two releases at once: the second waits, then finds nothing to do.
                connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
                connection.commit()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            connection.commit()
    finally:
        engine.dispose()
