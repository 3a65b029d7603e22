//! The chat calls of [`StateCore`]: subscriptions, locks, cache, lists and queues.

use tsify::{Ts, Tsify};
use wasm_bindgen::prelude::*;

use super::args::*;
use super::StateCore;
use crate::base::error::Error;
use crate::guarantees::claims::Claim;
use crate::guarantees::idempotency::Attempt;
use crate::model::lists::AppendOptions;
use crate::model::locks::Acquired;
use crate::model::queues::Dequeued;

/// The exports whose one argument is a thread id or a key: each checks it (under the name the
/// error message gives it) and calls its `Store` method.
macro_rules! one_string_exports {
    ($( $(#[$doc:meta])* $js:literal $name:ident($arg:literal) -> $ret:ty => $op:expr; )*) => {
        #[wasm_bindgen]
        impl StateCore {
            $(
                $(#[$doc])*
                #[wasm_bindgen(js_name = $js)]
                pub fn $name(
                    &self,
                    #[wasm_bindgen(unchecked_param_type = "string")] value: JsValue,
                ) -> std::result::Result<$ret, JsError> {
                    let value = string_arg($arg, &value).map_err(js_error)?;
                    let op: fn(&StateCore, &str) -> crate::base::error::Result<$ret> = $op;
                    op(self, &value).map_err(js_error)
                }
            )*
        }
    };
}

one_string_exports! {
    "subscribe" subscribe("threadId") -> () => |core, id| core.store.subscribe(id);
    "unsubscribe" unsubscribe("threadId") -> () => |core, id| core.store.unsubscribe(id);
    "isSubscribed" is_subscribed("threadId") -> bool => |core, id| core.store.is_subscribed(id);
    "forceReleaseLock" force_release_lock("threadId") -> () =>
        |core, id| core.store.force_release_lock(id);
    /// The value's JSON text, or `null`.
    "get" get("key") -> Option<String> => |core, key| core.store.get(key, now());
    "delete" delete("key") -> () => |core, key| core.store.delete(key);
    /// The list as JSON array text.
    "getList" get_list("key") -> String => |core, key| core.store.get_list(key, now());
}

#[wasm_bindgen]
impl StateCore {
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
}
