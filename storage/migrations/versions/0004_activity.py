"""reminder engine, activity day and study (issue 5)

Revision ID: 0004_activity
Revises: 0003_registration
Create Date: 2026-11-27
"""

from collections.abc import Sequence

revision: str = "0004_activity"
down_revision: str | None = "0003_registration"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
