-- Drops the release still running cannot survive.
-- Text in comments is not a statement: DROP TABLE audit_log;
/* Nor in block comments, nested ones included:
   DROP TABLE sessions;
   /* ALTER TABLE users DROP COLUMN nested; */ ALTER TABLE users DROP COLUMN still_comment;
*/
INSERT INTO notes (body) VALUES ('DROP TABLE users; ALTER TABLE x DROP COLUMN y');
COMMENT ON TABLE users IS 'it''s fine; DROP TABLE users';

DROP TABLE IF EXISTS public.legacy_orders;
drop table
  "Audit Log", archive.events CASCADE;

ALTER TABLE ONLY users DROP COLUMN email;
ALTER TABLE IF EXISTS shop.orders
  DROP COLUMN IF EXISTS coupon,
  DROP CONSTRAINT orders_coupon_fk,
  ADD COLUMN note text,
  drop "Legacy Flag" CASCADE;
SELECT $$ DROP TABLE users; $$ AS quoted_body;
CREATE FUNCTION purge() RETURNS void AS $body$
BEGIN
  DROP TABLE users;
END
$body$ LANGUAGE plpgsql;
DO $do$
BEGIN
  ALTER TABLE payments DROP COLUMN card_number;
END
$do$;
