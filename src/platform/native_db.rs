// #[cfg(test)]: compiled only for tests (declared `#[cfg(test)] mod native_db;` in platform/mod.rs).
//! A `rusqlite` implementation of [`Database`] so `cargo test` runs the real SQL natively.

use std::cell::Cell;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::Connection;

use crate::base::db::{Database, Param, Row, RowCounts, Value};
use crate::base::error::{Error, Result};

pub struct NativeDb {
    pub conn: Connection,
    written: Cell<u64>,
}

impl NativeDb {
    pub fn open_in_memory() -> Self {
        NativeDb {
            conn: Connection::open_in_memory().expect("in-memory SQLite"),
            written: Cell::new(0),
        }
    }
}

fn storage(e: rusqlite::Error) -> Error {
    Error::storage(e.to_string())
}

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Param::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            // workerd binds numbers as JS doubles: mirror its limit so native tests catch an
            // integer that would lose precision (or be bound as REAL) on the way there.
            Param::Int(n) if n.unsigned_abs() > (1 << 53) => {
                return Err(rusqlite::Error::ToSqlConversionFailure(
                    format!("integer {n} is beyond 2^53 and cannot be bound exactly in workerd")
                        .into(),
                ))
            }
            Param::Int(n) => ToSqlOutput::Borrowed(ValueRef::Integer(*n)),
            Param::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

impl Database for NativeDb {
    fn exec(&self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>> {
        let before = self.conn.total_changes();
        let mut stmt = self.conn.prepare_cached(sql).map_err(storage)?;
        let columns = stmt.column_count();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params.iter()))
            .map_err(storage)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(storage)? {
            let mut values = Vec::with_capacity(columns);
            for i in 0..columns {
                values.push(match row.get_ref(i).map_err(storage)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(n) => Value::Int(n),
                    ValueRef::Real(f) => Value::Real(f),
                    ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(_) => Value::Null,
                });
            }
            out.push(values);
        }
        drop(rows);
        let changed = self.conn.total_changes().saturating_sub(before);
        self.written.set(self.written.get() + changed);
        Ok(out)
    }

    fn exec_script(&self, sql: &str) -> Result<()> {
        self.conn.execute_batch(sql).map_err(storage)
    }

    fn transaction<T>(&self, body: &mut dyn FnMut() -> Result<T>) -> Result<T> {
        self.conn.execute_batch("SAVEPOINT tx").map_err(storage)?;
        match body() {
            Ok(value) => {
                self.conn.execute_batch("RELEASE tx").map_err(storage)?;
                Ok(value)
            }
            Err(e) => {
                self.conn
                    .execute_batch("ROLLBACK TO tx; RELEASE tx")
                    .map_err(storage)?;
                Err(e)
            }
        }
    }

    /// SQLite's change counter stands in for workerd's billed-row counters natively: it counts
    /// table rows changed, not index entries, so native tests assert on it only relatively.
    fn row_counts(&self) -> RowCounts {
        RowCounts {
            read: 0,
            written: self.written.get(),
            statements: 0,
        }
    }

    fn database_size(&self) -> u64 {
        0
    }
}
