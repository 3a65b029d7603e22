//! The re-sharding calls of [`StateCore`]: admission, the handoff pull and import, the drain.

use js_sys::Reflect;
use tsify::{Ts, Tsify};
use wasm_bindgen::prelude::*;

use super::args::*;
use super::StateCore;
use crate::base::error::Error;
use crate::sharding::admission::Caller;
use crate::sharding::migration::{Admission, DrainItem, Handed, Outgoing};
use crate::sharding::routing::Scope;
use crate::sharding::unit::PageImport;
use crate::sharding::wire::{migration_from_js, set_page, shape_from_js, unit_from_js, unit_to_js};

#[wasm_bindgen(typescript_custom_section)]
const UNIT_PAGE: &str = "/** A part of a unit, as it moves in pages (see src/sharding/pages.rs). */
export interface UnitPage { unit: unknown[]; from: string; next: string | null; shape?: unknown }";

#[wasm_bindgen]
impl StateCore {
    // ---- re-sharding (see `sharding`) ----------------------------------------------------

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
    /// object }` (see `sharding::wire` for the unit's shape). With `pageBytes`, the part of the
    /// unit from cursor `from` (`""`: the first) that fits, with `from`, `next` and, on the first,
    /// `shape` (see `sharding::pages`); without, the whole unit, as builds before pages asked.
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
                .hand_over(
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

    /// The part of the unit from cursor `from` that fits in `pageBytes` (see `sharding::pages`):
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

    /// The byte budget of a page (`sharding::pages::PAGE_BYTES`).
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

    /// A new home refused the unit sealed for it (see `sharding::stuck`).
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

    /// How long the alarm waits before offering stuck units again (`sharding::stuck::RETRY_MS`).
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
}
