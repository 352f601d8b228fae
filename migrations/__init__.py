"""Alembic migrations, shipped as a package so that `webhooks migrate` finds them installed."""
