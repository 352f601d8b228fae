"""Alembic environment: runs on the connection `webhooks migrate` hands over, or DATABASE_URL."""

from alembic import context
from sqlalchemy import Connection, create_engine
from sqlalchemy.pool import NullPool

from webhooks.config import Settings
from webhooks.models import Base


def run(connection: Connection) -> None:
    """Run the migrations on one connection."""
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things: batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    url = context.config.get_main_option("sqlalchemy.url") or Settings.from_env().database_url
    with create_engine(url, poolclass=NullPool).connect() as fresh:
        run(fresh)
