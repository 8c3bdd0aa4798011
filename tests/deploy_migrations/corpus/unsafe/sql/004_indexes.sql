CREATE INDEX idx_users_email ON users (email);
CREATE UNIQUE INDEX
  IF NOT EXISTS orders_number_key
  ON ONLY shop.orders USING btree (number);
CREATE INDEX CONCURRENTLY idx_users_name ON users (name);
CREATE INDEX ON events (created_at);
CREATE TABLE tags (id bigint PRIMARY KEY, name text NOT NULL);
CREATE INDEX tags_name ON tags (name);
ALTER TABLE tags ADD COLUMN slug text NOT NULL;
