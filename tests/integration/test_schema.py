"""The migrations build exactly the tables models.py describes."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from webhooks.models import Base


def test_models_and_migrations_agree(engine: Engine) -> None:
    """No difference between the migrated database and the models, on either backend."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
