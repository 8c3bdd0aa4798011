"""raw SQL and indexes

Revision ID: a3
Revises: a2
"""
from alembic import op
import sqlalchemy as sa

revision = "a3"
down_revision = "a2"


def upgrade():
    op.execute("ALTER TABLE users DROP COLUMN legacy_id")
    op.execute(
        sa.text(
            """
            UPDATE users SET flag = 'DROP TABLE users';
            ALTER TABLE users
                ALTER COLUMN score TYPE bigint;
            """
        )
    )
    op.execute('CREATE INDEX ix_users_score '
               "ON users (score)")
    op.create_index("ix_users_email", "users", ["email"])
    op.create_index(op.f("ix_users_name"), "users", ["name"], postgresql_concurrently=True)
    op.create_table("tags", sa.Column("id", sa.Integer(), primary_key=True))
    op.create_index("ix_tags_id", "tags", ["id"])
    op.add_column("tags", sa.Column("slug", sa.String(), nullable=False))
    op.execute("INSERT INTO tags (id) VALUES (1)")


def downgrade():
    op.execute("DROP TABLE tags")
    op.drop_index("ix_users_email", table_name="users")
