//! The JavaScript boundary: [`WorkerdDb`] runs the store's SQL on `ctx.storage.sql`, and
//! [`StateCore`] / [`ShardRouter`] are what the TypeScript shell calls.
//!
//! Every exported function takes its arguments as raw `JsValue`s (typed in the `.d.ts` with
//! `unchecked_param_type`) and checks them itself. wasm-bindgen's own conversions would coerce a
//! number to a string, or replace a lone surrogate with U+FFFD so two distinct keys collide; here
//! a wrong argument becomes an error that names it. Nothing on these paths panics: a panic would
//! trap the wasm instance every object in the isolate shares.
//!
//! Nothing here is async either: every export runs to completion synchronously, and whatever must
//! be awaited (`setAlarm`, the pauses between sweep batches) is awaited by the TypeScript shell,
//! which asks [`StateCore::take_alarm_request`] after each write. Rust futures
//! (`wasm-bindgen-futures`) are deliberately not used: their task queue is global to the wasm
//! instance and schedules itself with one `queueMicrotask` at a time, so an object reset
//! (`ctx.abort()`, a deploy) while one of its futures was queued left that microtask unrun and the
//! queue marked as scheduled forever — every later future of every object in the isolate, their
//! constructors included, then hung. The reset fault tests (test/exactly-once.test.ts) found it.

use std::cell::Cell;

use js_sys::{Date, Reflect};
use tsify::{Ts, Tsify};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use worker::{SqlStorage, State};

use crate::base::db::{Database, Param, Row, RowCounts, Value};
use crate::base::error::{Error, Result};
use crate::base::store::Store;
use crate::guarantees::claims::Claim;
use crate::guarantees::idempotency::Attempt;
use crate::model::expiry::SWEEP_MAX_BATCHES;
use crate::model::lists::AppendOptions;
use crate::model::locks::Acquired;
use crate::model::queues::Dequeued;
use crate::sharding::admission::Caller;
use crate::sharding::handoff::{Admission, DrainItem, Handed, Outgoing};
use crate::sharding::pages::PageImport;
use crate::sharding::routing::{Route, Router, Scope};
use crate::sharding::wire::{migration_from_js, set_page, shape_from_js, unit_from_js, unit_to_js};

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
    type StorageSys;

    /// Runs the callback in a SQLite transaction; a throw from it rolls the transaction back.
    #[wasm_bindgen(method, catch, js_name = transactionSync)]
    fn transaction_sync(
        this: &StorageSys,
        body: &mut dyn FnMut() -> std::result::Result<JsValue, JsValue>,
    ) -> std::result::Result<JsValue, JsValue>;
}

#[wasm_bindgen(typescript_custom_section)]
const ROUTE_TUPLE: &str =
    "/** `[routingKey, threadScoped, objectName]` (see `ShardRouter.routeThread`). */
export type RouteTuple = [string, boolean, string];";

#[wasm_bindgen(typescript_custom_section)]
const UNIT_PAGE: &str = "/** A part of a unit, as it moves in pages (see src/sharding/pages.rs). */
export interface UnitPage { unit: unknown[]; from: string; next: string | null; shape?: unknown }";

fn js_error(e: Error) -> JsError {
    JsError::new(&e.to_string())
}

fn js_message(value: &JsValue) -> String {
    value
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| value.as_string())
        .unwrap_or_else(|| format!("{value:?}"))
}

fn now() -> i64 {
    Date::now() as i64
}

/// [`Database`] over a Durable Object's SQLite storage.
pub struct WorkerdDb {
    sql: SqlStorage,
    storage: StorageSys,
    counts: Cell<RowCounts>,
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

// ---- argument conversion -------------------------------------------------------------------

fn string_arg(argument: &'static str, value: &JsValue) -> Result<String> {
    let Some(js) = value.dyn_ref::<js_sys::JsString>() else {
        return Err(Error::invalid(
            argument,
            format!("must be a string, got {}", type_name(value)),
        ));
    };
    if !js.is_valid_utf16() {
        return Err(Error::invalid(
            argument,
            "must be well-formed Unicode (it contains a lone surrogate)",
        ));
    }
    Ok(String::from(js))
}

fn number_arg(argument: &'static str, value: &JsValue) -> Result<f64> {
    value.as_f64().ok_or_else(|| {
        Error::invalid(
            argument,
            format!("must be a number, got {}", type_name(value)),
        )
    })
}

fn optional_string_arg(argument: &'static str, value: &JsValue) -> Result<Option<String>> {
    if value.is_undefined() || value.is_null() {
        Ok(None)
    } else {
        string_arg(argument, value).map(Some)
    }
}

/// A request id (or lock token) and the retry flag that comes after it.
fn attempt_arg(
    argument: &'static str,
    id: &JsValue,
    retry: &JsValue,
) -> Result<Option<(String, bool)>> {
    let id = optional_string_arg(argument, id)?;
    let retry = if retry.is_undefined() || retry.is_null() {
        false
    } else {
        retry.as_bool().ok_or_else(|| {
            Error::invalid(
                "retry",
                format!("must be a boolean, got {}", type_name(retry)),
            )
        })?
    };
    Ok(id.map(|id| (id, retry)))
}

fn as_attempt(arg: &Option<(String, bool)>) -> Option<Attempt<'_>> {
    arg.as_ref()
        .map(|(id, retry)| Attempt { id, retry: *retry })
}

fn optional_number_arg(argument: &'static str, value: &JsValue) -> Result<Option<f64>> {
    if value.is_undefined() || value.is_null() {
        Ok(None)
    } else {
        number_arg(argument, value).map(Some)
    }
}

fn type_name(value: &JsValue) -> String {
    if value.is_null() {
        "null".into()
    } else if value.is_array() {
        "an array".into()
    } else {
        value
            .js_typeof()
            .as_string()
            .unwrap_or_else(|| "unknown".into())
    }
}

fn field(object: &JsValue, name: &str) -> Result<JsValue> {
    Reflect::get(object, &JsValue::from_str(name)).map_err(|e| Error::storage(js_message(&e)))
}

// ---- the Durable Object's core -------------------------------------------------------------

/// Runs one store operation, turning its error into a JS `Error`.
fn run<T>(op: impl FnOnce() -> Result<T>) -> std::result::Result<T, JsError> {
    op().map_err(js_error)
}

/// One per Durable Object instance: the store over its SQLite database.
#[wasm_bindgen]
pub struct StateCore {
    store: Store<WorkerdDb>,
}

#[wasm_bindgen]
impl StateCore {
    /// Opens the object's state: upgrades the schema and, if rows have deadlines and no alarm is
    /// armed, requests one (see [`StateCore::take_alarm_request`]). `armedAlarm` is
    /// `await ctx.storage.getAlarm()`.
    pub fn open(
        #[wasm_bindgen(unchecked_param_type = "DurableObjectState")] ctx: JsValue,
        #[wasm_bindgen(unchecked_param_type = "number | null")] armed_alarm: JsValue,
    ) -> std::result::Result<StateCore, JsError> {
        let armed = optional_number_arg("armedAlarm", &armed_alarm).map_err(js_error)?;
        let storage_js = field(&ctx, "storage").map_err(js_error)?;
        let state = State::from(ctx.unchecked_into::<worker::worker_sys::DurableObjectState>());
        let db = WorkerdDb {
            sql: state.storage().sql(),
            storage: storage_js.unchecked_into(),
            counts: Cell::new(RowCounts::default()),
        };
        let store = Store::open(db, armed.map(|t| t as i64), now()).map_err(js_error)?;
        Ok(StateCore { store })
    }

    /// The alarm time (Unix ms) the last operation needs armed, if the alarm must move. The shell
    /// calls this after every write and passes it to `ctx.storage.setAlarm` before replying.
    #[wasm_bindgen(js_name = takeAlarmRequest)]
    pub fn take_alarm_request(&self) -> Option<f64> {
        self.store.take_alarm_request().map(|at| at as f64)
    }

    /// Asks for the alarm by `at` (Unix ms) unless one is armed no later; the shell then calls
    /// `takeAlarmRequest` as after a write.
    #[wasm_bindgen(js_name = requestAlarmBy)]
    pub fn request_alarm_by(&self, at: f64) {
        self.store.request_alarm_by(at as i64);
    }

    /// `setAlarm` failed: what is armed is unknown now, so the next write re-arms.
    #[wasm_bindgen(js_name = alarmRequestFailed)]
    pub fn alarm_request_failed(&self) {
        self.store.alarm_request_failed();
    }

    pub fn subscribe(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] thread_id: JsValue,
    ) -> std::result::Result<(), JsError> {
        let thread_id = string_arg("threadId", &thread_id).map_err(js_error)?;
        self.store.subscribe(&thread_id).map_err(js_error)
    }

    pub fn unsubscribe(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] thread_id: JsValue,
    ) -> std::result::Result<(), JsError> {
        let thread_id = string_arg("threadId", &thread_id).map_err(js_error)?;
        self.store.unsubscribe(&thread_id).map_err(js_error)
    }

    #[wasm_bindgen(js_name = isSubscribed)]
    pub fn is_subscribed(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] thread_id: JsValue,
    ) -> std::result::Result<bool, JsError> {
        let thread_id = string_arg("threadId", &thread_id).map_err(js_error)?;
        self.store.is_subscribed(&thread_id).map_err(js_error)
    }

    /// The lock, `null` when refused, or — for an acquire that is held (see `tenure`) — a number:
    /// the Unix ms by which to ask again (the shell also asks again whenever the key is written).
    #[wasm_bindgen(js_name = acquireLock, unchecked_return_type = "Lock | null | number")]
    pub fn acquire_lock(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] thread_id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "number")] ttl_ms: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string | undefined")] token: JsValue,
        #[wasm_bindgen(unchecked_param_type = "boolean | undefined")] retry: JsValue,
        #[wasm_bindgen(unchecked_param_type = "number | undefined")] patience_ms: JsValue,
    ) -> std::result::Result<JsValue, JsError> {
        run(|| {
            let thread_id = string_arg("threadId", &thread_id)?;
            let ttl_ms = number_arg("ttlMs", &ttl_ms)?;
            let token = attempt_arg("token", &token, &retry)?;
            let patience_ms = optional_number_arg("patienceMs", &patience_ms)?;
            match self.store.acquire_lock_or_hold(
                &thread_id,
                ttl_ms,
                as_attempt(&token),
                patience_ms,
                true,
                now(),
            )? {
                Acquired::Refused => Ok(JsValue::NULL),
                Acquired::WaitUntil(at) => Ok(JsValue::from_f64(at as f64)),
                Acquired::Granted(lock) => Ok(lock
                    .into_ts()
                    .map_err(|e| Error::storage(e.to_string()))?
                    .js_value()),
            }
        })
    }

    #[wasm_bindgen(js_name = releaseLock)]
    pub fn release_lock(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] thread_id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string")] token: JsValue,
    ) -> std::result::Result<(), JsError> {
        let thread_id = string_arg("lock.threadId", &thread_id).map_err(js_error)?;
        let token = string_arg("lock.token", &token).map_err(js_error)?;
        self.store
            .release_lock(&thread_id, &token)
            .map_err(js_error)
    }

    #[wasm_bindgen(js_name = extendLock)]
    pub fn extend_lock(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] thread_id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string")] token: JsValue,
        #[wasm_bindgen(unchecked_param_type = "number")] ttl_ms: JsValue,
    ) -> std::result::Result<bool, JsError> {
        run(|| {
            let thread_id = string_arg("lock.threadId", &thread_id)?;
            let token = string_arg("lock.token", &token)?;
            let ttl_ms = number_arg("ttlMs", &ttl_ms)?;
            self.store.extend_lock(&thread_id, &token, ttl_ms, now())
        })
    }

    #[wasm_bindgen(js_name = forceReleaseLock)]
    pub fn force_release_lock(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] thread_id: JsValue,
    ) -> std::result::Result<(), JsError> {
        let thread_id = string_arg("threadId", &thread_id).map_err(js_error)?;
        self.store.force_release_lock(&thread_id).map_err(js_error)
    }

    /// The value's JSON text, or `null`.
    pub fn get(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] key: JsValue,
    ) -> std::result::Result<Option<String>, JsError> {
        let key = string_arg("key", &key).map_err(js_error)?;
        self.store.get(&key, now()).map_err(js_error)
    }

    pub fn set(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] key: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string")] json: JsValue,
        #[wasm_bindgen(unchecked_param_type = "number | undefined")] ttl_ms: JsValue,
    ) -> std::result::Result<(), JsError> {
        run(|| {
            let key = string_arg("key", &key)?;
            let json = string_arg("value", &json)?;
            let ttl_ms = optional_number_arg("ttlMs", &ttl_ms)?;
            self.store.set(&key, &json, ttl_ms, now())
        })
    }

    #[wasm_bindgen(js_name = setIfNotExists)]
    pub fn set_if_not_exists(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] key: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string")] json: JsValue,
        #[wasm_bindgen(unchecked_param_type = "number | undefined")] ttl_ms: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string | undefined")] request_id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "boolean | undefined")] retry: JsValue,
    ) -> std::result::Result<bool, JsError> {
        run(|| {
            let key = string_arg("key", &key)?;
            let json = string_arg("value", &json)?;
            let ttl_ms = optional_number_arg("ttlMs", &ttl_ms)?;
            let request_id = attempt_arg("requestId", &request_id, &retry)?;
            self.store
                .set_if_not_exists(&key, &json, ttl_ms, as_attempt(&request_id), now())
        })
    }

    pub fn delete(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] key: JsValue,
    ) -> std::result::Result<(), JsError> {
        let key = string_arg("key", &key).map_err(js_error)?;
        self.store.delete(&key).map_err(js_error)
    }

    #[wasm_bindgen(js_name = appendToList)]
    pub fn append_to_list(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] key: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string")] json: JsValue,
        #[wasm_bindgen(
            unchecked_param_type = "{ maxLength?: number; ttlMs?: number } | undefined"
        )]
        options: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string | undefined")] request_id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "boolean | undefined")] retry: JsValue,
    ) -> std::result::Result<(), JsError> {
        run(|| {
            let key = string_arg("key", &key)?;
            let json = string_arg("value", &json)?;
            let options = if options.is_undefined() || options.is_null() {
                AppendOptions::default()
            } else if options.is_object() {
                AppendOptions {
                    max_length: optional_number_arg(
                        "options.maxLength",
                        &field(&options, "maxLength")?,
                    )?,
                    ttl_ms: optional_number_arg("options.ttlMs", &field(&options, "ttlMs")?)?,
                }
            } else {
                return Err(Error::invalid(
                    "options",
                    format!("must be an object, got {}", type_name(&options)),
                ));
            };
            let request_id = attempt_arg("requestId", &request_id, &retry)?;
            self.store
                .append_to_list(&key, &json, options, as_attempt(&request_id), now())
        })
    }

    /// The list as JSON array text.
    #[wasm_bindgen(js_name = getList)]
    pub fn get_list(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] key: JsValue,
    ) -> std::result::Result<String, JsError> {
        let key = string_arg("key", &key).map_err(js_error)?;
        self.store.get_list(&key, now()).map_err(js_error)
    }

    #[allow(clippy::too_many_arguments)] // the RPC's positional arguments, one per JS value
    pub fn enqueue(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] thread_id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string")] entry_json: JsValue,
        #[wasm_bindgen(unchecked_param_type = "number")] expires_at: JsValue,
        #[wasm_bindgen(unchecked_param_type = "number")] max_size: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string | undefined")] request_id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "boolean | undefined")] retry: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string | undefined")] caller: JsValue,
    ) -> std::result::Result<u32, JsError> {
        run(|| {
            let thread_id = string_arg("threadId", &thread_id)?;
            let entry_json = string_arg("entry", &entry_json)?;
            let expires_at = number_arg("entry.expiresAt", &expires_at)?;
            let max_size = optional_number_arg("maxSize", &max_size)?;
            let request_id = attempt_arg("requestId", &request_id, &retry)?;
            let caller = optional_string_arg("caller", &caller)?;
            self.store.enqueue(
                &thread_id,
                &entry_json,
                expires_at,
                max_size,
                as_attempt(&request_id),
                caller.as_deref(),
                now(),
            )
        })
    }

    /// The oldest live entry's JSON text, `null` when there is none, or — for a holder's dequeue
    /// that is held (see `tenure`) — a number: the Unix ms by which to ask again (the shell also
    /// asks again, with the same arguments, whenever the key is written).
    #[wasm_bindgen(unchecked_return_type = "string | null | number")]
    pub fn dequeue(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] thread_id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string | undefined")] request_id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "boolean | undefined")] retry: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string | undefined")] holder: JsValue,
    ) -> std::result::Result<JsValue, JsError> {
        run(|| {
            let thread_id = string_arg("threadId", &thread_id)?;
            let request_id = attempt_arg("requestId", &request_id, &retry)?;
            let holder = optional_string_arg("holder", &holder)?;
            Ok(
                match self.store.dequeue(
                    &thread_id,
                    as_attempt(&request_id),
                    holder.as_deref(),
                    now(),
                )? {
                    Dequeued::Entry(json) => JsValue::from_str(&json),
                    Dequeued::Empty => JsValue::NULL,
                    Dequeued::WaitUntil(at) => JsValue::from_f64(at as f64),
                },
            )
        })
    }

    #[wasm_bindgen(js_name = queueDepth)]
    pub fn queue_depth(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] thread_id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string | undefined")] caller: JsValue,
    ) -> std::result::Result<u32, JsError> {
        run(|| {
            let thread_id = string_arg("threadId", &thread_id)?;
            let caller = optional_string_arg("caller", &caller)?;
            self.store.queue_depth(&thread_id, caller.as_deref(), now())
        })
    }

    /// Takes the lock if it is free, else enqueues the entry: one transaction (see `claims`).
    /// Answers `{ outcome: "acquired", lock }` or `{ outcome: "queued", depth }`.
    #[wasm_bindgen(js_name = claimOrEnqueue)]
    #[allow(clippy::too_many_arguments)]
    pub fn claim_or_enqueue(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] thread_id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string")] entry_json: JsValue,
        #[wasm_bindgen(unchecked_param_type = "number")] expires_at: JsValue,
        #[wasm_bindgen(unchecked_param_type = "number")] ttl_ms: JsValue,
        #[wasm_bindgen(unchecked_param_type = "number | undefined")] max_size: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string")] token: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string | undefined")] request_id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "boolean | undefined")] retry: JsValue,
    ) -> std::result::Result<Ts<Claim>, JsError> {
        let claim = run(|| {
            let thread_id = string_arg("threadId", &thread_id)?;
            let entry_json = string_arg("entry", &entry_json)?;
            let expires_at = number_arg("entry.expiresAt", &expires_at)?;
            let ttl_ms = number_arg("options.ttlMs", &ttl_ms)?;
            let max_size = optional_number_arg("options.maxSize", &max_size)?;
            let token = string_arg("token", &token)?;
            let request_id = attempt_arg("requestId", &request_id, &retry)?;
            let retry = request_id.as_ref().is_some_and(|(_, r)| *r);
            self.store.claim_or_enqueue(
                &thread_id,
                &entry_json,
                expires_at,
                ttl_ms,
                max_size,
                Attempt { id: &token, retry },
                as_attempt(&request_id),
                now(),
            )
        })?;
        Ok(claim.into_ts()?)
    }

    /// For the lock's holder: the next entry's JSON text (lock kept), or `null` with the lock
    /// released — one transaction (see `claims`).
    #[wasm_bindgen(js_name = releaseOrDequeue)]
    pub fn release_or_dequeue(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] thread_id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string")] token: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string | undefined")] request_id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "boolean | undefined")] retry: JsValue,
    ) -> std::result::Result<Option<String>, JsError> {
        run(|| {
            let thread_id = string_arg("lock.threadId", &thread_id)?;
            let token = string_arg("lock.token", &token)?;
            let request_id = attempt_arg("requestId", &request_id, &retry)?;
            self.store
                .release_or_dequeue(&thread_id, &token, as_attempt(&request_id), now())
        })
    }

    // ---- re-sharding (see `handoff`) ----------------------------------------------------

    /// The routing key of a call: `threadScoped` calls route by their thread id, cache and list
    /// keys by the thread id they embed or by themselves.
    #[wasm_bindgen(js_name = routingKey)]
    pub fn routing_key(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] key: JsValue,
        thread_scoped: bool,
    ) -> std::result::Result<String, JsError> {
        let scope = if thread_scoped {
            Scope::Thread
        } else {
            Scope::Key
        };
        let argument = if thread_scoped { "threadId" } else { "key" };
        let key = string_arg(argument, &key).map_err(js_error)?;
        Ok(crate::sharding::routing::routing_key(scope, &key)
            .0
            .to_owned())
    }

    /// Where a call on `key` may be served, given the caller's `via` (`self`, `from`: its
    /// previous home, `migration`'s id; see `admission`). With no migration going on this reads
    /// nothing and answers "serve" — as `undefined`: it is every call's answer, and building an
    /// object for it through serde cost an RPC about 10 µs (measured in workerd), more than the
    /// whole read it guards.
    #[wasm_bindgen(unchecked_return_type = "Exclude<Admission, { admit: \"serve\" }> | undefined")]
    pub fn admit(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] key: JsValue,
        thread_scoped: bool,
        #[wasm_bindgen(unchecked_param_type = "string | undefined")] from: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string | undefined")] migration_id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string | undefined")] self_name: JsValue,
    ) -> std::result::Result<JsValue, JsError> {
        let from = optional_string_arg("via.from", &from).map_err(js_error)?;
        let migration_id =
            optional_string_arg("via.migration.id", &migration_id).map_err(js_error)?;
        let self_name = optional_string_arg("via.self", &self_name).map_err(js_error)?;
        // A malformed key is the data method's to reject, with its own argument name.
        let Some(key) = key.as_string() else {
            return Ok(JsValue::UNDEFINED);
        };
        let scope = if thread_scoped {
            Scope::Thread
        } else {
            Scope::Key
        };
        let (routing_key, thread_unit) = crate::sharding::routing::routing_key(scope, &key);
        let caller = Caller {
            self_name: self_name.as_deref(),
            from: from.as_deref(),
            // A previous home named without its migration matches no drained record: the unit
            // is pulled, which is always safe.
            migration: migration_id.as_deref().or(from.as_deref().map(|_| "")),
        };
        let admission = self
            .store
            .admit(routing_key, thread_scoped, thread_unit, caller, now())
            .map_err(js_error)?;
        match admission {
            Admission::Serve => Ok(JsValue::UNDEFINED),
            other => Ok(other.into_ts()?.into()),
        }
    }

    /// Whether a call on `migrationId` must wait for this object to retire the drained migration
    /// it was a previous home of (see `Store::must_retire_for`): a boolean, no serde object.
    #[wasm_bindgen(js_name = mustRetireFor)]
    pub fn must_retire_for(&self, migration_id: &str) -> std::result::Result<bool, JsError> {
        self.store.must_retire_for(migration_id).map_err(js_error)
    }

    /// Whether a call on `migrationId` is one layout change behind the change this object takes
    /// part in now (see `admission`): such a call must not retire the later change.
    #[wasm_bindgen(js_name = isBehind)]
    pub fn is_behind(&self, migration_id: &str) -> std::result::Result<bool, JsError> {
        self.store.is_behind_known(migration_id).map_err(js_error)
    }

    /// After a previous home answered it holds nothing of the key (see `Store::note_owned`).
    #[wasm_bindgen(js_name = noteOwned)]
    pub fn note_owned(&self, migration_id: &str, routing_key: &str) {
        self.store.note_owned(migration_id, routing_key);
    }

    /// A new home asks this previous home for a unit (see `Store::hand_over`).
    /// Answers `{ handed: "unit", unit, sealId } | { handed: "nothing" } | { handed: "moved",
    /// object }` (see `handoff_wire` for the unit's shape). With `pageBytes`, the part of the
    /// unit from cursor `from` (`""`: the first) that fits, with `from`, `next` and, on the first,
    /// `shape` (see `handoff_pages`); without, the whole unit, as builds before pages asked.
    #[wasm_bindgen(js_name = handOver, unchecked_return_type = "Handed")]
    #[allow(clippy::too_many_arguments)]
    pub fn hand_over(
        &self,
        routing_key: &str,
        destination: &str,
        #[wasm_bindgen(unchecked_param_type = "Migration")] migration: JsValue,
        self_name: &str,
        seal_id: &str,
        #[wasm_bindgen(unchecked_param_type = "string | undefined")] from: JsValue,
        #[wasm_bindgen(unchecked_param_type = "number | undefined")] page_bytes: JsValue,
    ) -> std::result::Result<JsValue, JsError> {
        let migration = migration_from_js(&migration).map_err(js_error)?;
        let from = optional_string_arg("from", &from).map_err(js_error)?;
        let page_bytes = optional_number_arg("pageBytes", &page_bytes).map_err(js_error)?;
        let page = page_bytes.map(|b| {
            (
                from.as_deref().unwrap_or(""),
                // At most this build's own page: an asker cannot make a reply exceed it.
                (b.max(1.0) as usize).min(crate::sharding::pages::PAGE_BYTES),
            )
        });
        // Asked by a new home of an earlier change (a Worker one change behind called it).
        let behind = self
            .store
            .hand_over_behind(routing_key, &migration.id, self_name, now())
            .map_err(js_error)?;
        let handed = match behind {
            Some(handed) => handed,
            None => self
                .store
                .hand_over_page(
                    routing_key,
                    destination,
                    &migration,
                    self_name,
                    seal_id,
                    page,
                    now(),
                )
                .map_err(js_error)?,
        };
        let out = js_sys::Object::new();
        let set = |k: &str, v: &JsValue| Reflect::set(&out, &JsValue::from_str(k), v).map(drop);
        let result = match handed {
            Handed::Unit {
                unit,
                seal_id,
                page,
            } => set("handed", &"unit".into())
                .and_then(|_| set("unit", &unit_to_js(&unit)))
                .and_then(|_| set("sealId", &JsValue::from_str(&seal_id)))
                .and_then(|_| page.map_or(Ok(()), |p| set_page(&out, &p))),
            Handed::Nothing => set("handed", &"nothing".into()),
            Handed::Moved { object } => set("handed", &"moved".into())
                .and_then(|_| set("object", &JsValue::from_str(&object))),
        };
        result.map_err(|e| js_error(Error::storage(js_message(&e))))?;
        Ok(out.into())
    }

    /// The unit's rows, as they would move.
    #[wasm_bindgen(js_name = collectUnit, unchecked_return_type = "UnitWire")]
    pub fn collect_unit(&self, routing_key: &str) -> std::result::Result<JsValue, JsError> {
        let unit = self
            .store
            .collect_unit(routing_key, now())
            .map_err(js_error)?;
        Ok(unit_to_js(&unit))
    }

    /// The part of the unit from cursor `from` that fits in `pageBytes` (see `handoff_pages`):
    /// `{ unit, from, next, shape? }`.
    #[wasm_bindgen(js_name = collectPage, unchecked_return_type = "UnitPage")]
    pub fn collect_page(
        &self,
        routing_key: &str,
        from: &str,
        page_bytes: f64,
    ) -> std::result::Result<JsValue, JsError> {
        let budget = (page_bytes.max(1.0) as usize).min(crate::sharding::pages::PAGE_BYTES);
        let (unit, page) = self
            .store
            .collect_page(routing_key, from, budget, now())
            .map_err(js_error)?;
        let out: JsValue = js_sys::Object::new().into();
        Reflect::set(&out, &"unit".into(), &unit_to_js(&unit))
            .and_then(|_| set_page(&out, &page))
            .map_err(|e| js_error(Error::storage(js_message(&e))))?;
        Ok(out)
    }

    /// Imports one page of a unit (see `Store::import_page`): `true`/`false` once the unit is
    /// imported (now / before), or the cursor of the page to send next.
    #[wasm_bindgen(js_name = importPage, unchecked_return_type = "boolean | string")]
    #[allow(clippy::too_many_arguments)]
    pub fn import_page(
        &self,
        source: &str,
        migration_id: &str,
        #[wasm_bindgen(unchecked_param_type = "UnitWire")] unit: JsValue,
        seal_id: &str,
        from: &str,
        #[wasm_bindgen(unchecked_param_type = "string | null | undefined")] next: JsValue,
        #[wasm_bindgen(unchecked_param_type = "unknown")] shape: JsValue,
    ) -> std::result::Result<JsValue, JsError> {
        let unit = unit_from_js(&unit).map_err(js_error)?;
        let next = optional_string_arg("next", &next).map_err(js_error)?;
        let shape = shape_from_js(&shape).map_err(js_error)?;
        let done = self
            .store
            .import_page(
                source,
                migration_id,
                &unit,
                seal_id,
                from,
                next.as_deref(),
                shape.as_ref(),
                now(),
            )
            .map_err(js_error)?;
        Ok(match done {
            PageImport::Done(now_done) => JsValue::from_bool(now_done),
            PageImport::Expect(at) => JsValue::from_str(&at),
        })
    }

    /// The byte budget of a page (`handoff_pages::PAGE_BYTES`).
    #[wasm_bindgen(js_name = pageBytes)]
    pub fn page_bytes() -> f64 {
        crate::sharding::pages::PAGE_BYTES as f64
    }

    /// Imports a unit sealed by `source` (true when it wrote; false when already imported).
    #[wasm_bindgen(js_name = importUnit)]
    pub fn import_unit(
        &self,
        source: &str,
        migration_id: &str,
        #[wasm_bindgen(unchecked_param_type = "UnitWire")] unit: JsValue,
        seal_id: &str,
    ) -> std::result::Result<bool, JsError> {
        let unit = unit_from_js(&unit).map_err(js_error)?;
        self.store
            .import_unit(source, migration_id, &unit, seal_id, now())
            .map_err(js_error)
    }

    /// The new home has the unit durably: delete this object's sealed copy.
    #[wasm_bindgen(js_name = handedOver)]
    pub fn handed_over(
        &self,
        routing_key: &str,
        seal_id: &str,
    ) -> std::result::Result<bool, JsError> {
        self.store
            .handed_over(routing_key, seal_id)
            .map_err(js_error)
    }

    #[wasm_bindgen(js_name = hasImport)]
    pub fn has_import(
        &self,
        routing_key: &str,
        seal_id: &str,
    ) -> std::result::Result<bool, JsError> {
        self.store
            .has_import(routing_key, seal_id)
            .map_err(js_error)
    }

    /// Becomes the previous home of `migration` (idempotent; refuses a second migration).
    #[wasm_bindgen(js_name = beginOutgoing)]
    pub fn begin_outgoing(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Migration")] migration: JsValue,
        self_name: &str,
    ) -> std::result::Result<(), JsError> {
        let migration = migration_from_js(&migration).map_err(js_error)?;
        self.store
            .begin_outgoing(&migration, self_name, now())
            .map_err(js_error)
    }

    /// The migration this object is a previous home of.
    pub fn outgoing(&self) -> std::result::Result<Option<Ts<Outgoing>>, JsError> {
        match self.store.outgoing().map_err(js_error)? {
            Some(o) => Ok(Some(o.into_ts()?)),
            None => Ok(None),
        }
    }

    #[wasm_bindgen(js_name = drainCandidates)]
    pub fn drain_candidates(
        &self,
        limit: u32,
        with_stuck: Option<bool>,
    ) -> std::result::Result<Vec<Ts<DrainItem>>, JsError> {
        let items = self
            .store
            .drain_candidates(limit as usize, with_stuck.unwrap_or(false), now())
            .map_err(js_error)?;
        items
            .into_iter()
            .map(|i| i.into_ts().map_err(JsError::from))
            .collect()
    }

    /// Deletes a drained `shardKey` previous home's markers once they expired (`handoff_guard`).
    #[wasm_bindgen(js_name = expireMarkers)]
    pub fn expire_markers(&self) -> std::result::Result<f64, JsError> {
        self.store
            .expire_markers(now())
            .map(|n| n as f64)
            .map_err(js_error)
    }

    /// A new home refused the unit sealed for it (see `handoff_stuck`).
    #[wasm_bindgen(js_name = noteStuck)]
    pub fn note_stuck(&self, routing_key: &str, destination: &str, reason: &str) -> bool {
        self.store
            .note_stuck(routing_key, destination, reason, now())
    }

    /// Units noted stuck.
    #[wasm_bindgen(js_name = stuckCount)]
    pub fn stuck_count(&self) -> u32 {
        u32::try_from(self.store.stuck_count()).unwrap_or(u32::MAX)
    }

    /// How long the alarm waits before offering stuck units again (`handoff_stuck::RETRY_MS`).
    #[wasm_bindgen(js_name = stuckRetryMs)]
    pub fn stuck_retry_ms() -> f64 {
        crate::sharding::stuck::RETRY_MS as f64
    }

    /// The caller says this unit stays on this object (see `Store::stays`).
    pub fn stays(&self, routing_key: &str) {
        self.store.stays(routing_key);
    }

    #[wasm_bindgen(js_name = checkDrained)]
    pub fn check_drained(&self) -> std::result::Result<bool, JsError> {
        self.store.check_drained(now()).map_err(js_error)
    }

    /// Retires the drained migration this object was a previous home of (`Store::forget_outgoing`).
    /// `supersededBy`: the migration that retires it (see `Store::forget_outgoing`).
    #[wasm_bindgen(js_name = forgetOutgoing)]
    pub fn forget_outgoing(
        &self,
        superseded_by: Option<String>,
    ) -> std::result::Result<(), JsError> {
        self.store
            .forget_outgoing(superseded_by.as_deref())
            .map_err(js_error)
    }

    /// A previous home retired `migration_id` (`Store::source_retired`).
    #[wasm_bindgen(js_name = sourceRetired)]
    pub fn source_retired(
        &self,
        source: &str,
        migration_id: &str,
    ) -> std::result::Result<(), JsError> {
        self.store
            .source_retired(source, migration_id)
            .map_err(js_error)
    }

    /// Every new home has been told this object drained.
    #[wasm_bindgen(js_name = markDrainNotified)]
    pub fn mark_drain_notified(&self) -> std::result::Result<(), JsError> {
        self.store.mark_drain_notified(now()).map_err(js_error)
    }

    #[wasm_bindgen(js_name = drainedDestinations)]
    pub fn drained_destinations(&self) -> std::result::Result<Vec<String>, JsError> {
        self.store.drained_destinations().map_err(js_error)
    }

    /// A previous home has drained: forget its records (in batches; answers how many are left).
    #[wasm_bindgen(js_name = sourceHasDrained)]
    pub fn source_has_drained(
        &self,
        source: &str,
        migration_id: &str,
    ) -> std::result::Result<f64, JsError> {
        Ok(self
            .store
            .source_has_drained(source, migration_id)
            .map_err(js_error)? as f64)
    }

    pub fn inspect(&self) -> std::result::Result<Ts<crate::model::inspect::Inspection>, JsError> {
        let inspection = self.store.inspect(now()).map_err(js_error)?;
        Ok(inspection.into_ts()?)
    }

    /// Cumulative SQLite rows `[read, written]` by this instance, from the cursors' counters.
    #[wasm_bindgen(js_name = rowCounts)]
    pub fn row_counts(&self) -> Vec<f64> {
        let counts = self.store.row_counts();
        vec![
            counts.read as f64,
            counts.written as f64,
            counts.statements as f64,
        ]
    }

    /// Starts an alarm invocation (the runtime has cleared the alarm before calling it).
    #[wasm_bindgen(js_name = beginSweep)]
    pub fn begin_sweep(&self) {
        self.store.begin_sweep();
    }

    /// One sweep batch: deletes up to 1,000 rows whose deadline is at or before `startedAt`, in
    /// one transaction. Returns `true` when the batch used its whole budget (more may remain).
    #[wasm_bindgen(js_name = sweepBatch)]
    pub fn sweep_batch(&self, started_at: f64) -> std::result::Result<bool, JsError> {
        let batch = self
            .store
            .sweep_batch(started_at as i64)
            .map_err(js_error)?;
        Ok(batch.budget_exhausted)
    }

    /// Ends an alarm invocation: requests the next alarm (immediately when `more`, else at the
    /// earliest remaining deadline but no sooner than 30 s).
    #[wasm_bindgen(js_name = finishSweep)]
    pub fn finish_sweep(&self, more: bool) -> std::result::Result<(), JsError> {
        self.store.finish_sweep(now(), more).map_err(js_error)?;
        Ok(())
    }

    /// Batches per alarm invocation before handing over to a fresh one.
    #[wasm_bindgen(js_name = sweepMaxBatches)]
    pub fn sweep_max_batches() -> u32 {
        SWEEP_MAX_BATCHES
    }
}

// ---- routing ---------------------------------------------------------------------------------

/// The shard router one adapter instance uses (see the `routing` module).
#[wasm_bindgen]
pub struct ShardRouter {
    router: Router,
}

#[wasm_bindgen]
impl ShardRouter {
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "string")] name: JsValue,
        #[wasm_bindgen(unchecked_param_type = "number | undefined")] shards: JsValue,
    ) -> std::result::Result<ShardRouter, JsError> {
        let name = string_arg("name", &name).map_err(js_error)?;
        let shards = optional_number_arg("shards", &shards).map_err(js_error)?;
        Ok(ShardRouter {
            router: Router::new(&name, shards).map_err(js_error)?,
        })
    }

    /// Routes a thread-scoped call (subscriptions, locks, queues). `argument` names the
    /// argument in errors.
    #[wasm_bindgen(js_name = routeThread, unchecked_return_type = "RouteTuple")]
    pub fn route_thread(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] thread_id: JsValue,
        argument: &str,
    ) -> std::result::Result<JsValue, JsError> {
        self.route(Scope::Thread, thread_id, argument)
    }

    /// Routes a cache or list call by its key.
    #[wasm_bindgen(js_name = routeKey, unchecked_return_type = "RouteTuple")]
    pub fn route_key(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] key: JsValue,
    ) -> std::result::Result<JsValue, JsError> {
        self.route(Scope::Key, key, "key")
    }

    /// The object a routing key lives on.
    #[wasm_bindgen(js_name = homeOf)]
    pub fn home_of(&self, routing_key: &str) -> String {
        self.router.home_of(routing_key)
    }

    /// Every object name this router sends to.
    #[wasm_bindgen(js_name = objectNames)]
    pub fn object_names(&self) -> Vec<String> {
        self.router.object_names()
    }

    /// A [`Route`] as `[routingKey, threadScoped, objectName]`: the adapter routes every call,
    /// and an array costs the Worker less than an object built field by field through serde.
    fn route(
        &self,
        scope: Scope,
        key: JsValue,
        argument: &str,
    ) -> std::result::Result<JsValue, JsError> {
        let argument = match argument {
            "lock.threadId" => "lock.threadId",
            _ if scope == Scope::Key => "key",
            _ => "threadId",
        };
        let key = string_arg(argument, &key).map_err(js_error)?;
        let route: Route = self.router.route(scope, argument, &key).map_err(js_error)?;
        Ok(js_sys::Array::of3(
            &JsValue::from_str(&route.routing_key),
            &JsValue::from_bool(route.thread_scoped),
            &JsValue::from_str(&route.object_name),
        )
        .into())
    }
}
