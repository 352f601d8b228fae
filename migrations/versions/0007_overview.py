"""Overview: one tenant's deliveries by hour from the tenant index alone (PostgreSQL).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The same key, carrying status and created_at: the overview's hourly counts for one
    # tenant become an index-only scan instead of a filter over every tenant's last day.
    # SQLite has no INCLUDE: its index stays as it is.
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_deliveries_tenant_id", table_name="deliveries")
    op.create_index(
        "ix_deliveries_tenant_id",
        "deliveries",
        ["tenant", "id"],
        postgresql_include=["status", "created_at"],
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_deliveries_tenant_id", table_name="deliveries")
    op.create_index("ix_deliveries_tenant_id", "deliveries", ["tenant", "id"])
