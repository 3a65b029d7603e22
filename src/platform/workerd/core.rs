//! [`StateCore`], one per Durable Object instance: opening it, its alarm schedule, inspection and
//! the sweep. Its chat calls are in `exports_data`, its re-sharding calls in `exports_handoff`.

use std::cell::Cell;

use tsify::{Ts, Tsify};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use worker::State;

use super::args::{field, js_error, now, optional_number_arg};
use super::sql::WorkerdDb;
use crate::base::db::RowCounts;
use crate::base::store::Store;
use crate::model::expiry::SWEEP_MAX_BATCHES;

/// One per Durable Object instance: the store over its SQLite database.
#[wasm_bindgen]
pub struct StateCore {
    pub(super) store: Store<WorkerdDb>,
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
