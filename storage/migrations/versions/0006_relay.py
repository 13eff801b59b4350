"""relay to the home township: agency requests and applications to join (issue 7)

Revision ID: 0006_relay
Revises: 0005_dues
Create Date: 2026-11-27
"""

from collections.abc import Sequence

revision: str = "0006_relay"
down_revision: str | None = "0005_dues"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
