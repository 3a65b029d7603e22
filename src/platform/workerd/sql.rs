//! [`WorkerdDb`]: the store's SQL on a Durable Object's `ctx.storage.sql`, one boundary crossing
//! per statement.

use std::cell::Cell;

use wasm_bindgen::prelude::*;
use worker::SqlStorage;

use super::args::js_message;
use crate::base::db::{Database, Param, Row, RowCounts, Value};
use crate::base::error::{Error, Result};

// One statement in one boundary crossing: `worker`'s cursor API costs several crossings per
// row and per value (next(), done, value, length, get(i), a type probe per value), which made the
// crossings, not SQLite, most of a statement's time inside the object. This returns every row as
// an array of plain values, and the billing counters, at once.
#[wasm_bindgen(inline_js = "export function sql_rows(sql, query, bindings) {
  const cursor = sql.exec(query, ...bindings);
  const rows = cursor.raw().toArray();
  return [rows, cursor.rowsRead, cursor.rowsWritten];
}")]
extern "C" {
    #[wasm_bindgen(catch)]
    fn sql_rows(
        sql: &JsValue,
        query: &str,
        bindings: js_sys::Array,
    ) -> std::result::Result<js_sys::Array, JsValue>;
}

/// A value as `sql_rows` returns it: SQLite integers arrive as integral numbers (ours stay
/// below 2^53), text as strings; this schema stores nothing else.
fn js_to_value(v: JsValue) -> Value {
    if let Some(n) = v.as_f64() {
        if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 {
            return Value::Int(n as i64);
        }
        return Value::Real(n);
    }
    if let Some(s) = v.as_string() {
        return Value::Text(s);
    }
    if let Some(b) = v.as_bool() {
        return Value::Int(i64::from(b));
    }
    Value::Null
}

#[wasm_bindgen]
extern "C" {
    /// `ctx.storage`, for the one method `worker` 0.8.7 does not bind.
    pub(super) type StorageSys;

    /// Runs the callback in a SQLite transaction; a throw from it rolls the transaction back.
    #[wasm_bindgen(method, catch, js_name = transactionSync)]
    fn transaction_sync(
        this: &StorageSys,
        body: &mut dyn FnMut() -> std::result::Result<JsValue, JsValue>,
    ) -> std::result::Result<JsValue, JsValue>;
}

/// [`Database`] over a Durable Object's SQLite storage.
pub struct WorkerdDb {
    pub(super) sql: SqlStorage,
    pub(super) storage: StorageSys,
    pub(super) counts: Cell<RowCounts>,
}

impl WorkerdDb {
    fn count(&self, cursor: &worker::SqlCursor) {
        let mut counts = self.counts.get();
        counts.read += cursor.rows_read() as u64;
        counts.written += cursor.rows_written() as u64;
        counts.statements += 1;
        self.counts.set(counts);
    }
}

impl Database for WorkerdDb {
    fn exec(&self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>> {
        let bindings = js_sys::Array::new_with_length(params.len() as u32);
        for (i, p) in params.iter().enumerate() {
            let v = match p {
                Param::Null => JsValue::NULL,
                // Deadlines and sequence numbers stay far below 2^53.
                Param::Int(n) => JsValue::from_f64(*n as f64),
                Param::Text(s) => JsValue::from_str(s),
            };
            bindings.set(i as u32, v);
        }
        let result = sql_rows(self.sql.as_ref(), sql, bindings)
            .map_err(|e| Error::storage(js_message(&e)))?;
        let js_rows = js_sys::Array::from(&result.get(0));
        let mut rows = Vec::with_capacity(js_rows.length() as usize);
        for row in js_rows.iter() {
            let row = js_sys::Array::from(&row);
            rows.push(row.iter().map(js_to_value).collect());
        }
        let mut counts = self.counts.get();
        counts.read += result.get(1).as_f64().unwrap_or(0.0) as u64;
        counts.written += result.get(2).as_f64().unwrap_or(0.0) as u64;
        counts.statements += 1;
        self.counts.set(counts);
        Ok(rows)
    }

    fn exec_script(&self, sql: &str) -> Result<()> {
        let cursor = self
            .sql
            .exec_raw(sql, None)
            .map_err(|e| Error::storage(e.to_string()))?;
        // Stepping the cursor to its end runs every statement of the script.
        for row in cursor.raw() {
            row.map_err(|e| Error::storage(e.to_string()))?;
        }
        self.count(&cursor);
        Ok(())
    }

    fn transaction<T>(&self, body: &mut dyn FnMut() -> Result<T>) -> Result<T> {
        let mut outcome: Option<Result<T>> = None;
        let thrown = {
            let mut run = || match body() {
                Ok(value) => {
                    outcome = Some(Ok(value));
                    Ok(JsValue::UNDEFINED)
                }
                Err(e) => {
                    outcome = Some(Err(e));
                    // Throwing is how transactionSync learns to roll back.
                    Err(JsValue::from_str("rollback"))
                }
            };
            self.storage.transaction_sync(&mut run).err()
        };
        match (outcome, thrown) {
            (Some(Err(e)), _) => Err(e),
            (_, Some(thrown)) => Err(Error::storage(js_message(&thrown))),
            (Some(Ok(value)), None) => Ok(value),
            (None, None) => Err(Error::storage("transaction body did not run")),
        }
    }

    fn row_counts(&self) -> RowCounts {
        self.counts.get()
    }

    fn database_size(&self) -> u64 {
        self.sql.database_size() as u64
    }
}
