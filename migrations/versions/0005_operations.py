"""Operations: custom headers and traceparent per endpoint, attempts' headers, retention indexes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FINISHED = sa.text("status <> 'pending'")


def upgrade() -> None:
    with op.batch_alter_table("endpoints", schema=None) as batch_op:
        # The names in clear (shown by the API), the whole map sealed (sent by the worker).
        batch_op.add_column(sa.Column("header_names", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("headers", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("send_traceparent", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request_headers", sa.Text(), nullable=True))
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_created_at", ["created_at"], unique=False)
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_deliveries_finished",
            ["updated_at"],
            unique=False,
            postgresql_where=FINISHED,
            sqlite_where=FINISHED,
        )


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_deliveries_finished", postgresql_where=FINISHED, sqlite_where=FINISHED
        )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_created_at")
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.drop_column("request_headers")
    with op.batch_alter_table("endpoints", schema=None) as batch_op:
        batch_op.drop_column("send_traceparent")
        batch_op.drop_column("headers")
        batch_op.drop_column("header_names")
