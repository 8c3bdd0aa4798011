ALTER TABLE users RENAME TO accounts;
ALTER TABLE accounts RENAME COLUMN name TO full_name;
ALTER TABLE "Orders" RENAME "Total" TO "Grand;Total";
ALTER TABLE accounts RENAME CONSTRAINT accounts_pk TO accounts_pkey;
RENAME TABLE carts TO baskets;

ALTER TABLE accounts
  ALTER COLUMN age TYPE bigint,
  ALTER score SET DATA TYPE numeric(10, 2) USING score::numeric,
  ALTER COLUMN nickname DROP NOT NULL,
  ALTER COLUMN bio SET DEFAULT '';
ALTER TABLE accounts SET SCHEMA archive;
ALTER TABLE products MODIFY COLUMN price DECIMAL(12,2);
