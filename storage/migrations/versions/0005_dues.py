"""party dues: declarations, months, payments (issue 6)

Revision ID: 0005_dues
Revises: 0004_activity
Create Date: 2026-11-27
"""

from collections.abc import Sequence

revision: str = "0005_dues"
down_revision: str | None = "0004_activity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
