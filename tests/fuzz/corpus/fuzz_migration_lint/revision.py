"""op.drop_table('doc')"""
from alembic import op
import sqlalchemy as sa


def upgrade() -> None:
    op.drop_table("a")  # op.drop_table("b")
    op.alter_column("t", "c", new_column_name="d", type_=sa.Text(), nullable=False)
    op.add_column("t", sa.Column("e", sa.Integer(), nullable=False, default=1))
    op.create_index(op.f("ix"), "t", ["e"], postgresql_concurrently=False)
    op.execute(sa.text("""ALTER TABLE t
        DROP COLUMN f"""))
    op.execute('DROP ' "TABLE g")
    with op.batch_alter_table("u", schema="s") as b:
        b.drop_column(r'h\'')


def downgrade() -> None:
    op.drop_table("z")
