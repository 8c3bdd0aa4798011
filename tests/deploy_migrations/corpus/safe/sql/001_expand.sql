-- Expand only: everything here the release still running survives.
CREATE TABLE IF NOT EXISTS invoices (
  id bigserial PRIMARY KEY,
  total numeric(12, 2) NOT NULL
);
ALTER TABLE users ADD COLUMN nickname text;
ALTER TABLE users ADD COLUMN plan text NOT NULL DEFAULT 'free';
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_users_plan ON users (plan);
CREATE UNIQUE INDEX CONCURRENTLY users_email_key ON users (email);
INSERT INTO plans (name) VALUES ('free'), ('pro');
UPDATE users SET plan = 'pro' WHERE id IN (SELECT user_id FROM subscriptions);
ALTER TABLE users ALTER COLUMN nickname DROP NOT NULL;
COMMENT ON COLUMN users.plan IS 'DROP TABLE users would be wrong';
