// Tables as earlier releases wrote them, for the upgrade and mixed-version tests: an object's
// tables are replaced with these (and rows as that release wrote them), then it is evicted so
// the next request opens it afresh and upgrades it.

/** schema::V1_SCHEMA_FOR_TESTS in src/base/schema.rs: the tables chat-state-cloudflare-do 0.1.1 wrote (schema version 1). */
export const V1_SCHEMA = `
CREATE TABLE IF NOT EXISTS _schema_version (version INTEGER PRIMARY KEY);
CREATE TABLE subscriptions (thread_id TEXT PRIMARY KEY);
CREATE TABLE locks (thread_id TEXT PRIMARY KEY, token TEXT NOT NULL, expires_at INTEGER NOT NULL);
CREATE TABLE cache (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at INTEGER);
CREATE INDEX idx_locks_expires ON locks(expires_at);
CREATE INDEX idx_cache_expires ON cache(expires_at) WHERE expires_at IS NOT NULL;
INSERT INTO _schema_version (version) VALUES (1);
`;

/** Drops every table of the object and creates `schema` in their place. */
export function replaceTables(sql: SqlStorage, schema: string): void {
  const tables = sql
    .exec("SELECT name FROM sqlite_master WHERE type = 'table'")
    .toArray()
    .map((r) => r.name as string);
  for (const table of tables) sql.exec(`DROP TABLE ${table}`);
  sql.exec(schema);
}
