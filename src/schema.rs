//! The versioned SQLite schema and its in-place upgrades.
//!
//! The version lives in `_schema_version`, the table the published `chat-state-cloudflare-do`
//! 0.1.x already writes, so a bot upgrading the package keeps its Durable Objects and their rows:
//! version 1 is that release's layout, version 2 is ours. Each upgrade runs in the same
//! transaction as the version bump, so an object is always wholly at one version.
//!
//! Table design, driven by what Cloudflare bills (rows written):
//! - every table is `WITHOUT ROWID` with the natural key as primary key, so a write touches one
//!   b-tree row instead of two (table + key index);
//! - only `cache` and `lists` carry an expiry index, and it is partial (`WHERE expires_at IS NOT
//!   NULL`), so rows without a TTL cost nothing extra. Locks and queue entries are short-lived
//!   rows their own protocol deletes; indexing them would double the cost of every acquire and
//!   enqueue to speed up only the alarm's sweep of a small table;
//! - a list's TTL is one row in `lists`, not a column on every item, so refreshing it on append
//!   writes one row whatever the list's length.

use crate::db::{Database, Param, QueryExt};
use crate::error::{Error, Result};

pub const CURRENT_VERSION: i64 = 2;

const VERSION_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS _schema_version (version INTEGER PRIMARY KEY)";

const V2_TABLES: &str = "
CREATE TABLE subscriptions (
    thread_id TEXT PRIMARY KEY
) WITHOUT ROWID;

CREATE TABLE locks (
    thread_id  TEXT PRIMARY KEY,
    token      TEXT NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE cache (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    expires_at INTEGER
) WITHOUT ROWID;
CREATE INDEX cache_expiry ON cache (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE lists (
    list_key   TEXT PRIMARY KEY,
    expires_at INTEGER
) WITHOUT ROWID;
CREATE INDEX lists_expiry ON lists (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE list_items (
    list_key TEXT NOT NULL,
    seq      INTEGER NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (list_key, seq)
) WITHOUT ROWID;

CREATE TABLE queue_entries (
    queue_key  TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    value      TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (queue_key, seq)
) WITHOUT ROWID;
";

/// Version 1 → 2: the 0.1.x tables had rowids and a full index on lock expiry. Move their rows
/// into the version-2 tables (same columns) and drop the old ones.
const V1_TO_V2: &str = "
DROP INDEX IF EXISTS idx_locks_expires;
DROP INDEX IF EXISTS idx_cache_expires;
ALTER TABLE subscriptions RENAME TO v1_subscriptions;
ALTER TABLE locks RENAME TO v1_locks;
ALTER TABLE cache RENAME TO v1_cache;
";

const V1_COPY: &str = "
INSERT INTO subscriptions (thread_id) SELECT thread_id FROM v1_subscriptions;
INSERT INTO locks (thread_id, token, expires_at) SELECT thread_id, token, expires_at FROM v1_locks;
INSERT INTO cache (key, value, expires_at) SELECT key, value, expires_at FROM v1_cache;
DROP TABLE v1_subscriptions;
DROP TABLE v1_locks;
DROP TABLE v1_cache;
";

/// The layout of `chat-state-cloudflare-do` 0.1.x (schema version 1), kept so the upgrade path is
/// tested against the real thing.
pub const V1_SCHEMA_FOR_TESTS: &str = "
CREATE TABLE IF NOT EXISTS _schema_version (version INTEGER PRIMARY KEY);
CREATE TABLE subscriptions (thread_id TEXT PRIMARY KEY);
CREATE TABLE locks (thread_id TEXT PRIMARY KEY, token TEXT NOT NULL, expires_at INTEGER NOT NULL);
CREATE TABLE cache (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at INTEGER);
CREATE INDEX idx_locks_expires ON locks(expires_at);
CREATE INDEX idx_cache_expires ON cache(expires_at) WHERE expires_at IS NOT NULL;
INSERT INTO _schema_version (version) VALUES (1);
";

/// Reads the stored version (0 for a new object).
pub fn stored_version<D: Database>(db: &D) -> Result<i64> {
    db.exec_script(VERSION_TABLE)?;
    Ok(db
        .query_int("SELECT COALESCE(MAX(version), 0) FROM _schema_version", &[])?
        .unwrap_or(0))
}

/// Brings the object's schema to [`CURRENT_VERSION`], returning the version it found.
///
/// Refuses to open an object written by a newer release: running old code on a newer layout
/// could corrupt it, and a clear error is better than a guess.
pub fn migrate<D: Database>(db: &D) -> Result<i64> {
    db.transaction(&mut || {
        let found = stored_version(db)?;
        match found {
            CURRENT_VERSION => return Ok(found),
            0 => db.exec_script(V2_TABLES)?,
            1 => {
                db.exec_script(V1_TO_V2)?;
                db.exec_script(V2_TABLES)?;
                db.exec_script(V1_COPY)?;
            }
            newer => {
                return Err(Error::storage(format!(
                    "this object's schema is version {newer}, newer than this build of \
                     chat-state-cloudflare-do supports ({CURRENT_VERSION}); upgrade the package"
                )))
            }
        }
        db.exec(
            "INSERT INTO _schema_version (version) VALUES (?)",
            &[Param::Int(CURRENT_VERSION)],
        )?;
        Ok(found)
    })
}
