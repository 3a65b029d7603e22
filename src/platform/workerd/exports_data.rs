//! The chat calls of [`StateCore`]: subscriptions, locks, cache, lists and queues.
//!
//! Each export takes the call's arguments as one JS array, in wire order, and hands them to its
//! `Store` `*_call` method, which reads and checks them by position (`base::args`). So the
//! exports know no argument: adding one to a method changes its `*_call` and its `Store` method,
//! the protocol table (`ts/shared/methods.ts`) and the adapter, and nothing here.

use tsify::{Ts, Tsify};
use wasm_bindgen::prelude::*;

use super::args::*;
use super::StateCore;
use crate::base::error::Error;
use crate::guarantees::claims::Claim;
use crate::model::locks::Acquired;
use crate::model::queues::Dequeued;

/// The exports whose answer crosses to JS as it is: each reads its arguments through its
/// `Store` `*_call` method.
macro_rules! data_exports {
    ($( $(#[$doc:meta])* $js:literal $name:ident -> $ret:ty => $call:ident; )*) => {
        #[wasm_bindgen]
        impl StateCore {
            $(
                $(#[$doc])*
                #[wasm_bindgen(js_name = $js)]
                pub fn $name(
                    &self,
                    #[wasm_bindgen(unchecked_param_type = "unknown[]")] args: js_sys::Array,
                ) -> std::result::Result<$ret, JsError> {
                    self.store.$call(&JsArgs(args), now()).map_err(js_error)
                }
            )*
        }
    };
}

data_exports! {
    "subscribe" subscribe -> () => subscribe_call;
    "unsubscribe" unsubscribe -> () => unsubscribe_call;
    "isSubscribed" is_subscribed -> bool => is_subscribed_call;
    "releaseLock" release_lock -> () => release_lock_call;
    "extendLock" extend_lock -> bool => extend_lock_call;
    "forceReleaseLock" force_release_lock -> () => force_release_lock_call;
    /// The value's JSON text, or `null`.
    "get" get -> Option<String> => get_call;
    "set" set -> () => set_call;
    "setIfNotExists" set_if_not_exists -> bool => set_if_not_exists_call;
    "delete" delete -> () => delete_call;
    "appendToList" append_to_list -> () => append_to_list_call;
    /// The list as JSON array text.
    "getList" get_list -> String => get_list_call;
    "enqueue" enqueue -> u32 => enqueue_call;
    "queueDepth" queue_depth -> u32 => queue_depth_call;
    /// For the lock's holder: the next entry's JSON text (lock kept), or `null` with the lock
    /// released — one transaction (see `claims`).
    "releaseOrDequeue" release_or_dequeue -> Option<String> => release_or_dequeue_call;
}

#[wasm_bindgen]
impl StateCore {
    /// The lock, `null` when refused, or — for an acquire that is held (see `tenure`) — a number:
    /// the Unix ms by which to ask again (the shell also asks again whenever the key is written).
    #[wasm_bindgen(js_name = acquireLock, unchecked_return_type = "Lock | null | number")]
    pub fn acquire_lock(
        &self,
        #[wasm_bindgen(unchecked_param_type = "unknown[]")] args: js_sys::Array,
    ) -> std::result::Result<JsValue, JsError> {
        run(
            || match self.store.acquire_lock_call(&JsArgs(args), now())? {
                Acquired::Refused => Ok(JsValue::NULL),
                Acquired::WaitUntil(at) => Ok(JsValue::from_f64(at as f64)),
                Acquired::Granted(lock) => Ok(lock
                    .into_ts()
                    .map_err(|e| Error::storage(e.to_string()))?
                    .js_value()),
            },
        )
    }

    /// The oldest live entry's JSON text, `null` when there is none, or — for a holder's dequeue
    /// that is held (see `tenure`) — a number: the Unix ms by which to ask again (the shell also
    /// asks again, with the same arguments, whenever the key is written).
    #[wasm_bindgen(unchecked_return_type = "string | null | number")]
    pub fn dequeue(
        &self,
        #[wasm_bindgen(unchecked_param_type = "unknown[]")] args: js_sys::Array,
    ) -> std::result::Result<JsValue, JsError> {
        run(|| {
            Ok(match self.store.dequeue_call(&JsArgs(args), now())? {
                Dequeued::Entry(json) => JsValue::from_str(&json),
                Dequeued::Empty => JsValue::NULL,
                Dequeued::WaitUntil(at) => JsValue::from_f64(at as f64),
            })
        })
    }

    /// Takes the lock if it is free, else enqueues the entry: one transaction (see `claims`).
    /// Answers `{ outcome: "acquired", lock }` or `{ outcome: "queued", depth }`.
    #[wasm_bindgen(js_name = claimOrEnqueue)]
    pub fn claim_or_enqueue(
        &self,
        #[wasm_bindgen(unchecked_param_type = "unknown[]")] args: js_sys::Array,
    ) -> std::result::Result<Ts<Claim>, JsError> {
        let claim = run(|| self.store.claim_or_enqueue_call(&JsArgs(args), now()))?;
        Ok(claim.into_ts()?)
    }
}
