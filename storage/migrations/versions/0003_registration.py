"""reporting in, consent and roster (issue 4)

Revision ID: 0003_registration
Revises: 0002_delivery
Create Date: 2026-11-27
"""

from collections.abc import Sequence

revision: str = "0003_registration"
down_revision: str | None = "0002_delivery"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
