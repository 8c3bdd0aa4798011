"""types and NOT NULL

Revision ID: a2
Revises: a1
"""
from alembic import op
import sqlalchemy as sa

revision = "a2"
down_revision = "a1"


def upgrade():
    op.alter_column("accounts", "age", type_=sa.BigInteger(), existing_type=sa.Integer())
    op.alter_column("accounts", "nickname",
                    existing_type=sa.String(),
                    nullable=False)
    op.alter_column("accounts", "bio", nullable=True)
    op.add_column("accounts", sa.Column("tenant_id", sa.BigInteger(), nullable=False))
    op.add_column(
        "accounts",
        sa.Column("plan", sa.String(20), nullable=False, default="free"),
    )
    op.add_column("accounts", sa.Column("status", sa.String(), nullable=False,
                                        server_default="active"))
    op.add_column("accounts", sa.Column("seq", sa.Integer(), sa.Identity(), nullable=False))
    op.add_column("accounts", sa.Column("note", sa.Text()))


def downgrade():
    op.alter_column("accounts", "nickname", nullable=True)
    op.drop_column("accounts", "tenant_id")
