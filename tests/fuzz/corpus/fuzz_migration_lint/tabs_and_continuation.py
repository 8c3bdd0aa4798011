def upgrade():
	op.rename_table(
"a",\
"b")
x = f"{op.drop_table(1)}"
