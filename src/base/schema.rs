//! The versioned SQLite schema and its in-place upgrades.
//!
//! Two numbers describe an object, like SQLite's own "read version" and "write version":
//! - `_schema_layout` holds the **schema version** the object has (1 = the published
//!   `chat-state-cloudflare-do` 0.1.x, 2 = WITHOUT ROWID tables, 3 = retry receipts, 4 = a
//!   list's exact expiry on its newest item, 5 = `handoff_partial`, units imported page by page,
//!   6 = `lock_announcements`, the durable part of a lock's tenure);
//! - `_schema_version` (the table 0.1.x already writes and every earlier build checks) holds the
//!   **compatibility version: the oldest schema version a build must understand to use the object safely**. An upgrade that only
//!   adds nullable columns older code never names leaves it unchanged, so a build of the previous
//!   version keeps working on the upgraded object during a deploy or after a rollback.
//!
//! Versions 3 to 6 are such additive upgrades of version 2: `_schema_version` stays 2, and a version-2
//! build (which refuses only `_schema_version` > 2) serves a version-3 object unchanged — it
//! ignores the receipt columns, sees receipts as expired queue entries (their `expires_at` is 0)
//! and its sweep deletes them; only the retry safety of calls it serves is lost. Version 4 moves a
//! list's exact expiry onto its newest item and keeps in `lists.expires_at` an upper bound of it
//! (see `lists`): an older build reads that bound as the expiry, so it shows a list at most the
//! bound's slack too long, and never drops a live one. A 0.1.x build,
//! which upgrades only when `_schema_version` < 1, likewise keeps using the three tables it knows.
//! Each upgrade runs in one transaction with the version bump, so an object is always wholly at
//! one version.
//!
//! Table design, driven by what Cloudflare bills (rows written):
//! - every table is `WITHOUT ROWID` with the natural key as primary key, so a write touches one
//!   b-tree row instead of two (table + key index);
//! - only `cache` and `lists` carry an expiry index, and it is partial (`WHERE expires_at IS NOT
//!   NULL`), so rows without a TTL cost nothing extra. Locks and queue entries are short-lived
//!   rows their own protocol deletes; indexing them would double the cost of every acquire and
//!   enqueue to speed up only the alarm's sweep of a small table;
//! - a list's exact expiry rides on the item row each append writes anyway, and its indexed
//!   `lists` row (for the sweep) is rewritten only when the expiry passes its bound, so refreshing
//!   a list's TTL on append usually writes no row of its own (see `lists`).

use crate::base::db::{Database, Param};
use crate::base::error::{Error, Result};

/// The schema version this build writes.
pub const CURRENT_VERSION: i64 = 6;

/// What this build records in `_schema_version`: versions 3 to 6 are additive over version 2, so
/// a version-2 build can still use the object.
pub const COMPATIBLE_WITH: i64 = 2;

const VERSION_TABLES: &str = "
CREATE TABLE IF NOT EXISTS _schema_version (version INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS _schema_layout (version INTEGER PRIMARY KEY);
";

/// Version 2's tables (also the base of version 3). Public for the upgrade tests.
pub const V2_TABLES_FOR_TESTS: &str = V2_TABLES;

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

/// Version 2 → 3: the retry receipts (see `idempotency`) and the re-sharding tables (see
/// `handoff`). Nullable columns and new tables only, so version-2 code (which names its columns in
/// every statement) keeps working on the result.
const V2_TO_V3: &str = "
ALTER TABLE cache ADD COLUMN request_id TEXT;
ALTER TABLE list_items ADD COLUMN requests TEXT;
ALTER TABLE queue_entries ADD COLUMN request_id TEXT;
ALTER TABLE queue_entries ADD COLUMN depth INTEGER;
ALTER TABLE queue_entries ADD COLUMN taken_by TEXT;
ALTER TABLE queue_entries ADD COLUMN retain_until INTEGER;

CREATE TABLE handoff_out (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    migration   TEXT NOT NULL,
    new_name    TEXT,
    new_shards  INTEGER,
    jurisdiction TEXT,
    self_name   TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    drained_at  INTEGER,
    notified_at INTEGER
);
CREATE TABLE handoff_sealed (
    routing_key TEXT PRIMARY KEY,
    destination TEXT NOT NULL,
    seal_id     TEXT NOT NULL,
    confirmed   INTEGER NOT NULL,
    sealed_at   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE handoff_in (
    routing_key TEXT PRIMARY KEY,
    source      TEXT NOT NULL,
    seal_id     TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE handoff_sources (
    source    TEXT PRIMARY KEY,
    migration TEXT NOT NULL,
    drained   INTEGER NOT NULL
) WITHOUT ROWID;
";

/// Version 3 → 4: the list's exact expiry on its newest item (see `lists`). A nullable column:
/// items written before (or by an older build) have none, and their list's `lists` row is then
/// its exact expiry, as that build wrote it.
const V3_TO_V4: &str = "
ALTER TABLE list_items ADD COLUMN expires_at INTEGER;
";

/// Version 4 → 5: a unit imported page by page records how far it got (see `sharding::pages`).
/// A new table only.
const V4_TO_V5: &str = "
CREATE TABLE handoff_partial (
    routing_key TEXT PRIMARY KEY,
    source      TEXT NOT NULL,
    seal_id     TEXT NOT NULL,
    next_cursor TEXT NOT NULL
) WITHOUT ROWID;
";

/// Version 5 → 6: a lock tenure's announcements, durable (see `announcements`). A new table
/// only: older builds never name it; one serving the object meanwhile neither writes nor deletes
/// its rows, which then only make this build hold a dequeue until their deadline (seconds) and
/// are swept.
const V5_TO_V6: &str = "
CREATE TABLE lock_announcements (
    thread_id    TEXT NOT NULL,
    token        TEXT NOT NULL,
    holder       TEXT NOT NULL,
    deadline     INTEGER NOT NULL,
    patience     INTEGER NOT NULL,
    announced_at INTEGER NOT NULL,
    PRIMARY KEY (thread_id, token)
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

/// The tables of `chat-state-cloudflare-do` 0.1.x (schema version 1), kept so the upgrade path is
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

/// Reads the object's version (0 for a new object) and the oldest version a build must understand
/// to use it.
pub fn stored_versions<D: Database>(db: &D) -> Result<(i64, i64)> {
    db.exec_script(VERSION_TABLES)?;
    let rows = db.exec(
        "SELECT (SELECT COALESCE(MAX(version), 0) FROM _schema_layout),
                (SELECT COALESCE(MAX(version), 0) FROM _schema_version)",
        &[],
    )?;
    let row = rows.into_iter().next().unwrap_or_default();
    let version = row.first().and_then(|v| v.as_int()).unwrap_or(0);
    let required = row.get(1).and_then(|v| v.as_int()).unwrap_or(0);
    // Before version 3 only `_schema_version` existed, and it was the version.
    Ok((version.max(required), required))
}

/// The object's version (0 for a new object).
pub fn stored_version<D: Database>(db: &D) -> Result<i64> {
    Ok(stored_versions(db)?.0)
}

/// Brings the object's version to [`CURRENT_VERSION`], returning the version it found.
///
/// Refuses to open an object that needs a newer build (`_schema_version` above what this build
/// understands): running old code on a version it cannot use safely could corrupt it, and a clear
/// error is better than a guess. A newer version that declares itself compatible is used as is.
pub fn upgrade<D: Database>(db: &D) -> Result<i64> {
    db.transaction(&mut || {
        let (found, required) = stored_versions(db)?;
        if required > CURRENT_VERSION {
            return Err(Error::storage(format!(
                "this object's schema is version {required}, newer than this build of \
                 chat-state-cloudflare-do supports ({CURRENT_VERSION}); upgrade the package"
            )));
        }
        match found {
            _ if found >= CURRENT_VERSION => return Ok(found),
            0 => {
                db.exec_script(V2_TABLES)?;
                db.exec_script(V2_TO_V3)?;
            }
            1 => {
                db.exec_script(V1_TO_V2)?;
                db.exec_script(V2_TABLES)?;
                db.exec_script(V1_COPY)?;
                db.exec_script(V2_TO_V3)?;
            }
            2 => db.exec_script(V2_TO_V3)?,
            _ => {}
        }
        // Every path ends at version 3 here, or at 4 or 5.
        if found < 4 {
            db.exec_script(V3_TO_V4)?;
        }
        if found < 5 {
            db.exec_script(V4_TO_V5)?;
        }
        db.exec_script(V5_TO_V6)?;
        db.exec(
            "INSERT OR IGNORE INTO _schema_version (version) VALUES (?)",
            &[Param::Int(COMPATIBLE_WITH)],
        )?;
        db.exec(
            "INSERT INTO _schema_layout (version) VALUES (?)",
            &[Param::Int(CURRENT_VERSION)],
        )?;
        Ok(found)
    })
}
