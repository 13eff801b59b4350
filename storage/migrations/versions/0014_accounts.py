"""accounts: materials kept by the project with channel file ids only as a cache (issue 12)

Revision ID: 0012_accounts
Revises: 0011_web
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_accounts"
down_revision: str | None = "0012_wxout"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("material", schema=None) as batch_op:
        batch_op.add_column(sa.Column("channel_cache", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("material", schema=None) as batch_op:
        batch_op.drop_column("channel_cache")
