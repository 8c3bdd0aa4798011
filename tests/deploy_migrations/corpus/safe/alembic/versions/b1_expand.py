"""expand: new nullable and defaulted columns, a concurrent index, a new table

Revision ID: b1
Revises:
"""
from alembic import op
import sqlalchemy as sa

revision = "b1"
down_revision = None


def upgrade():
    op.add_column("users", sa.Column("nickname", sa.String(), nullable=True))
    op.add_column("users", sa.Column("plan", sa.String(), nullable=False, server_default="free"))
    with op.get_context().autocommit_block():
        op.create_index("ix_users_plan", "users", ["plan"], postgresql_concurrently=True)
    op.create_table(
        "invoices",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("total", sa.Numeric(12, 2), nullable=False),
    )
    op.create_index("ix_invoices_total", "invoices", ["total"])
    op.execute("INSERT INTO plans (name) VALUES ('free')")


def downgrade():
    op.drop_index("ix_invoices_total", table_name="invoices")
    op.drop_table("invoices")
    op.drop_index("ix_users_plan", table_name="users")
    op.drop_column("users", "plan")
    op.drop_column("users", "nickname")
