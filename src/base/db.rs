//! The narrow SQL interface the store is written against.
//!
//! Two implementations exist: [`crate::platform::workerd::WorkerdDb`] over a Durable Object's
//! `ctx.storage.sql` (production) and a `rusqlite` connection in the native tests. Both run the
//! same SQLite dialect, so every query is exercised by `cargo test` as well as inside workerd.

use crate::base::error::Result;

/// A bound parameter. Borrowed so a 2 MB value is not copied on its way to SQLite.
#[derive(Debug, Clone, Copy)]
pub enum Param<'a> {
    Null,
    Int(i64),
    Text(&'a str),
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(text: &'a str) -> Self {
        Param::Text(text)
    }
}

impl From<i64> for Param<'_> {
    fn from(n: i64) -> Self {
        Param::Int(n)
    }
}

impl<'a, T: Into<Param<'a>>> From<Option<T>> for Param<'a> {
    fn from(value: Option<T>) -> Self {
        value.map_or(Param::Null, Into::into)
    }
}

/// A column value read back.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

impl Value {
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }

    pub fn into_text(self) -> Option<String> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }
}

pub type Row = Vec<Value>;

/// Rows read and written, as SQLite's cursors report them (what Cloudflare bills).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RowCounts {
    pub read: u64,
    pub written: u64,
    /// SQL statements run (what an alarm's CPU time grows with, beyond the rows).
    pub statements: u64,
}

pub trait Database {
    /// Runs one statement and returns all of its rows.
    fn exec(&self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>>;

    /// Runs a script of statements without parameters (schema creation).
    fn exec_script(&self, sql: &str) -> Result<()>;

    /// Runs `body` atomically: everything it wrote is rolled back if it returns `Err`.
    fn transaction<T>(&self, body: &mut dyn FnMut() -> Result<T>) -> Result<T>;

    /// Rows read and written since this connection was opened.
    fn row_counts(&self) -> RowCounts;

    /// Size of the database file in bytes.
    fn database_size(&self) -> u64;
}

/// Helpers over the first column of the first row, the shape most of our queries return.
pub trait QueryExt: Database {
    fn query_int(&self, sql: &str, params: &[Param<'_>]) -> Result<Option<i64>> {
        Ok(first_value(self.exec(sql, params)?).and_then(|v| v.as_int()))
    }

    fn query_text(&self, sql: &str, params: &[Param<'_>]) -> Result<Option<String>> {
        Ok(first_value(self.exec(sql, params)?).and_then(Value::into_text))
    }

    /// True when the statement returned at least one row (used with `RETURNING`).
    fn returned_row(&self, sql: &str, params: &[Param<'_>]) -> Result<bool> {
        Ok(!self.exec(sql, params)?.is_empty())
    }
}

impl<D: Database + ?Sized> QueryExt for D {}

fn first_value(rows: Vec<Row>) -> Option<Value> {
    rows.into_iter().next()?.into_iter().next()
}
