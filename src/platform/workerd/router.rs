//! [`ShardRouter`]: the Worker's routing (see the `routing` module), one per adapter instance.

use wasm_bindgen::prelude::*;

use super::args::*;
use crate::sharding::routing::{Route, Router, Scope};

#[wasm_bindgen(typescript_custom_section)]
const ROUTE_TUPLE: &str =
    "/** `[routingKey, threadScoped, objectName]` (see `ShardRouter.routeThread`). */
export type RouteTuple = [string, boolean, string];";

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
