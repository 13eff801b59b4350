"""accounts: a person is their accounts; materials kept with channel file ids only as a cache (issue 12)

* ``material.channel_cache``: a channel's own copy of a kept file (Telegram's file id, per bot).
* ``person.telegram_user_id`` goes: a Telegram user is their ``account`` row (channel ``telegram``),
  as people on every other channel are. Every Telegram user without that row gets it first (preferred
  when the person has no preferred account), so nobody is lost.
* ``outbox.telegram_message_id`` becomes ``message_id``: the channel's id of the sent message.

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
    op.execute(
        "INSERT INTO account (person_id, channel, external_id, address, last_inbound_at, preferred,"
        " unreachable, created_at)"
        " SELECT p.id, 'telegram', CAST(p.telegram_user_id AS VARCHAR(128)), CAST(p.chat_id AS VARCHAR(128)),"
        " p.last_seen_at,"
        " NOT EXISTS (SELECT 1 FROM account AS a WHERE a.person_id = p.id AND a.preferred = TRUE),"
        " p.unreachable, p.created_at"
        " FROM person AS p WHERE p.telegram_user_id IS NOT NULL AND NOT EXISTS ("
        "  SELECT 1 FROM account AS a WHERE a.channel = 'telegram'"
        "  AND a.external_id = CAST(p.telegram_user_id AS VARCHAR(128)))"
    )
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_person_telegram_user_id"), type_="unique")
        batch_op.drop_column("telegram_user_id")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column("telegram_message_id", new_column_name="message_id")


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column("message_id", new_column_name="telegram_message_id")
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.add_column(sa.Column("telegram_user_id", sa.BigInteger(), nullable=True))
    # A person's first Telegram account (a merged person may have two; account ids are unique anyway).
    op.execute(
        "UPDATE person SET telegram_user_id = (SELECT CAST(a.external_id AS BIGINT) FROM account AS a"
        " WHERE a.person_id = person.id AND a.channel = 'telegram' ORDER BY a.id LIMIT 1)"
    )
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f("uq_person_telegram_user_id"), ["telegram_user_id"])
    with op.batch_alter_table("material", schema=None) as batch_op:
        batch_op.drop_column("channel_cache")
