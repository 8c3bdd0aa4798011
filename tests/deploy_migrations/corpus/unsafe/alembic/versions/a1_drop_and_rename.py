"""drop and rename

Revision ID: a1
Revises:
Create Date: 2026-11-01 10:00:00

op.drop_table("in_docstring") is text, not a call.
"""
from alembic import op
import sqlalchemy as sa

revision = "a1"
down_revision = None


def upgrade() -> None:
    # op.drop_table("commented_out")
    op.drop_table("legacy_sessions")
    op.drop_column(
        "users",
        "email",  # the address moved to contacts
    )
    op.rename_table("carts", new_table_name="baskets")
    op.drop_column(table_name="orders", column_name="coupon", schema="shop")
    op.alter_column(
        "users",
        "name",
        new_column_name="full_name",
        existing_type=sa.String(length=100),
    )
    with op.batch_alter_table("profiles", schema=None) as batch_op:
        batch_op.drop_column("avatar")
        batch_op.alter_column("bio", type_=sa.Text())
        batch_op.add_column(sa.Column("verified", sa.Boolean(), nullable=True))
    print("op.drop_table('x') in a string")


def downgrade() -> None:
    op.create_table("legacy_sessions", sa.Column("id", sa.Integer()))
    op.add_column("users", sa.Column("email", sa.String(), nullable=False))
    op.drop_table("baskets")
    op.drop_column("users", "full_name")
