"""Fairness: a cap on deliveries in flight per endpoint, and deliveries held behind their endpoint.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = sa.text("status = 'pending'")
PENDING_FREE = sa.text("status = 'pending' AND NOT held")
HELD = sa.text("held")


def upgrade() -> None:
    with op.batch_alter_table("endpoints", schema=None) as batch_op:
        batch_op.add_column(sa.Column("max_in_flight", sa.Integer(), nullable=True))
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("held", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    # The scheduler's scan of due deliveries skips held ones: a backlog of held deliveries
    # must cost its pass nothing. Held ones are found per endpoint instead.
    _replace_due_index(PENDING_FREE)
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_deliveries_held",
            ["endpoint_id", "next_attempt_at"],
            unique=False,
            postgresql_where=HELD,
            sqlite_where=HELD,
        )


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_held")
    _replace_due_index(PENDING)
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("held")
    with op.batch_alter_table("endpoints", schema=None) as batch_op:
        batch_op.drop_column("max_in_flight")


def _replace_due_index(where: sa.TextClause) -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_pending_due")
        batch_op.create_index(
            "ix_deliveries_pending_due",
            ["next_attempt_at"],
            unique=False,
            postgresql_where=where,
            sqlite_where=where,
        )
