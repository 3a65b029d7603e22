//! Shard routing: which Durable Object a call goes to.
//!
//! One object serves roughly 500–1,000 requests/s, so a busy bot spreads its state over several.
//! Every call has a *routing key*:
//! - thread-scoped calls (subscriptions, locks, queues) route by their thread id;
//! - cache and list keys that embed a thread or channel id (`thread-state:<id>`,
//!   `msg-history:<id>` …, see [`THREAD_KEY_PREFIXES`]) route by that id, so a thread's state
//!   lands beside its lock and subscription;
//! - every other key (chat's per-message dedupe key above all) routes by the whole key.
//!
//! With `shards: N` the routing key is hashed with XXH3-64 (a fixed, published algorithm, so the
//! mapping never changes between releases or platforms) and mapped to a shard with jump consistent
//! hashing (Lamping & Veach, 2014): growing from N to N+1 shards moves only ~1/(N+1) of the keys,
//! the minimum possible. Bucket *i* is the object `name` for i = 0 and `name:shard-i` above, names
//! that do not depend on N: so growing 1 → N (or N → M) moves exactly the keys jump hashing moves,
//! and the objects of the old layout that keep keys keep their names (see `sharding`). With a
//! `shardKey` function the adapter calls it with the routing key of thread-scoped and
//! thread-derived calls and uses its answer as the object name; other keys stay on `name`.

use serde::Serialize;
use tsify::Tsify;

use crate::base::error::{Error, Result};
use crate::base::validate;

/// Cache/list key prefixes whose remainder is a thread or channel id (as chat 4.41 builds them).
pub const THREAD_KEY_PREFIXES: [&str; 5] = [
    "thread-state:",
    "channel-state:",
    "msg-history:",
    "active-turn:",
    "abort-turn:",
];

/// Most shards we allow; far beyond any bot's need, and keeps names short.
pub const MAX_SHARDS: u32 = 1024;

/// The kind of call being routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Subscriptions, locks and queues: the key *is* a thread (or channel) id.
    Thread,
    /// Cache and list keys: may embed a thread id.
    Key,
}

/// Where a call goes (to JavaScript as a `RouteTuple`, see `workerd`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The routing key: a thread/channel id, or the whole key.
    pub routing_key: String,
    /// Whether `routing_key` is a thread/channel id (and so goes to a `shardKey` function).
    pub thread_scoped: bool,
    /// The object's name when hash sharding decides it (`shards > 1`), else the base name.
    pub object_name: String,
}

/// A layout an object can compute homes with (built-in hash sharding over `shards` objects
/// named after `name`), sent to the objects of a migration (see `sharding`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Tsify)]
pub struct LayoutDesc {
    pub name: String,
    pub shards: u32,
}

/// The routing key of a call and whether it is a thread id.
pub fn routing_key(scope: Scope, key: &str) -> (&str, bool) {
    match scope {
        Scope::Thread => (key, true),
        Scope::Key => THREAD_KEY_PREFIXES
            .iter()
            .find_map(|prefix| key.strip_prefix(prefix))
            .filter(|rest| !rest.is_empty())
            .map_or((key, false), |id| (id, true)),
    }
}

/// Jump consistent hash: maps a 64-bit hash to a bucket in `0..buckets`.
fn jump_bucket(mut hash: u64, buckets: u32) -> u32 {
    let (mut b, mut j) = (-1i64, 0i64);
    while j < i64::from(buckets) {
        b = j;
        hash = hash.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        let r = ((hash >> 33) + 1) as f64;
        j = ((b + 1) as f64 * ((1u64 << 31) as f64 / r)) as i64;
    }
    // 0 <= b < buckets <= MAX_SHARDS.
    u32::try_from(b).unwrap_or(0)
}

/// The shard index of a routing key among `shards` objects.
pub fn shard_index(routing_key: &str, shards: u32) -> u32 {
    if shards <= 1 {
        return 0;
    }
    jump_bucket(xxhash_rust::xxh3::xxh3_64(routing_key.as_bytes()), shards)
}

/// The router one adapter instance uses.
#[derive(Debug, Clone)]
pub struct Router {
    base: String,
    shards: u32,
}

impl Router {
    pub fn new(base: &str, shards: Option<f64>) -> Result<Self> {
        let base = validate::key("name", base)?;
        let shards = match shards {
            None => 1,
            Some(n)
                if n.is_finite()
                    && n.fract() == 0.0
                    && (1.0..=f64::from(MAX_SHARDS)).contains(&n) =>
            {
                n as u32
            }
            Some(n) => {
                return Err(Error::invalid(
                    "shards",
                    format!("must be a whole number from 1 to {MAX_SHARDS}, got {n}"),
                ))
            }
        };
        Ok(Router {
            base: base.to_owned(),
            shards,
        })
    }

    /// The object name for bucket `index`: the base object for bucket 0, `base:shard-i` above.
    pub fn shard_name(&self, index: u32) -> String {
        if index == 0 {
            self.base.clone()
        } else {
            format!("{}:shard-{}", self.base, index)
        }
    }

    /// The layout this router computes.
    pub fn desc(&self) -> LayoutDesc {
        LayoutDesc {
            name: self.base.clone(),
            shards: self.shards,
        }
    }

    /// The router of a layout description (as an object receives it).
    pub fn from_desc(desc: &LayoutDesc) -> Result<Self> {
        Router::new(&desc.name, Some(f64::from(desc.shards)))
    }

    /// The object a routing key lives on.
    pub fn home_of(&self, routing_key: &str) -> String {
        self.shard_name(shard_index(routing_key, self.shards))
    }

    /// All object names this router can send to (for `inspect()` over every shard).
    pub fn object_names(&self) -> Vec<String> {
        (0..self.shards).map(|i| self.shard_name(i)).collect()
    }

    pub fn route(&self, scope: Scope, argument: &'static str, key: &str) -> Result<Route> {
        let key = validate::key(argument, key)?;
        let (routing_key, thread_scoped) = routing_key(scope, key);
        Ok(Route {
            routing_key: routing_key.to_owned(),
            thread_scoped,
            object_name: self.shard_name(shard_index(routing_key, self.shards)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_derived_keys_route_by_their_id() {
        for (scope, key, expected) in [
            (
                Scope::Key,
                "thread-state:slack:C1:1.2",
                ("slack:C1:1.2", true),
            ),
            (Scope::Key, "msg-history:slack:C1", ("slack:C1", true)),
            (Scope::Key, "dedupe:slack:m1", ("dedupe:slack:m1", false)),
            (Scope::Key, "thread-state:", ("thread-state:", false)),
            (Scope::Thread, "chat:callback:x", ("chat:callback:x", true)),
        ] {
            assert_eq!(routing_key(scope, key), expected, "{key}");
        }
    }

    #[test]
    fn a_thread_and_its_state_share_a_shard() {
        let router = Router::new("default", Some(8.0)).unwrap();
        let lock = router
            .route(Scope::Thread, "threadId", "slack:C1:1.2")
            .unwrap();
        let state = router
            .route(Scope::Key, "key", "thread-state:slack:C1:1.2")
            .unwrap();
        assert_eq!(lock.object_name, state.object_name);
    }

    #[test]
    fn mapping_is_stable() {
        // Pinned: a change here would silently move every bot's data.
        let names: Vec<u32> = ["a", "b", "slack:C1:1.2", "dedupe:slack:m1"]
            .iter()
            .map(|k| shard_index(k, 16))
            .collect();
        assert_eq!(names, PINNED);
    }
    const PINNED: [u32; 4] = [14, 11, 2, 6];

    #[test]
    fn load_spreads_evenly() {
        let shards = 8;
        let mut counts = vec![0u32; shards as usize];
        for i in 0..80_000 {
            counts[shard_index(&format!("dedupe:slack:{i}"), shards) as usize] += 1;
        }
        for c in counts {
            assert!((9_000..11_000).contains(&c), "{c}");
        }
    }

    #[test]
    fn growing_moves_few_keys() {
        let moved = (0..10_000)
            .filter(|i| {
                let k = format!("k{i}");
                shard_index(&k, 4) != shard_index(&k, 5)
            })
            .count();
        // Ideal is 1/5 = 2,000.
        assert!((1_700..2_300).contains(&moved), "{moved}");
    }

    #[test]
    fn bad_options() {
        for bad in [0.0, 1.5, -2.0, f64::NAN, 1e9] {
            assert!(Router::new("default", Some(bad)).is_err(), "{bad}");
        }
        assert!(Router::new("", None).is_err());
        let one = Router::new("chat", None).unwrap();
        assert_eq!(
            one.route(Scope::Key, "key", "dedupe:x")
                .unwrap()
                .object_name,
            "chat"
        );
    }
}
