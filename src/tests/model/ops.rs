//! What the model test's sequences are made of: the operations proptest generates (`Op`), the
//! retryable calls a replay repeats (`Call`), and the strategies that draw them over a three-key
//! space with TTLs a few milliseconds long.

use proptest::prelude::*;

use super::bad_calls::BAD_CALLS;

/// The key space: two plain keys and one thread-state key.
pub(super) const KEYS: [&str; 3] = ["a", "b", "thread-state:c"];

/// A TTL argument: `None` (absent), or a number that may be zero, fractional or invalid.
pub(super) type Ttl = Option<f64>;

#[derive(Debug, Clone)]
pub(super) enum TokenPick {
    /// The token the model says holds the key now (or the newest issued, if none does).
    Current,
    /// Some token issued earlier in the sequence.
    Issued(usize),
    /// A token never issued.
    Wrong,
}

/// The token a call carries as its `caller` / `holder` hint.
#[derive(Debug, Clone)]
pub(super) enum Hint {
    None,
    /// The token holding the key's lock now.
    Holder,
    /// The n-th token an acquire on the key was refused with.
    Refused(usize),
    /// Any token issued earlier.
    Issued(usize),
}

#[derive(Debug, Clone)]
pub(super) enum Op {
    Advance(i64),
    Subscribe(usize),
    Unsubscribe(usize),
    IsSubscribed(usize),
    /// `true`: the caller chooses the token (as the adapter does); `false`: the object draws it.
    /// Then the patience the caller declares.
    Acquire(usize, f64, bool, Option<f64>),
    Release(usize, TokenPick),
    Extend(usize, TokenPick, f64),
    ForceRelease(usize),
    Get(usize),
    Set(usize, u8, Ttl),
    /// The `bool`s below: the call carries a request id (as the adapter's do).
    SetIfNotExists(usize, u8, Ttl, bool),
    Delete(usize),
    Append(usize, u8, Option<f64>, Ttl, bool),
    GetList(usize),
    /// Entry expiry relative to now (may be in the past), maxSize.
    Enqueue(usize, u8, i64, Option<f64>, bool, Hint),
    Dequeue(usize, bool, Hint),
    QueueDepth(usize, Hint),
    Inspect,
    /// The alarm handler runs now; `Some(n)`: SQLite refuses the n-th expired row's delete.
    Alarm(Option<u8>),
    /// The object is evicted and re-opened; `false` = its alarm was lost too.
    Reopen(bool),
    /// A call with an invalid argument, by number (see `bad_call`).
    Bad(u8, usize),
    /// A retry of the n-th (mod the number made) retryable call, with its request id or token.
    Replay(usize),
}

/// A retryable call as first made: what a retry repeats.
#[derive(Debug, Clone)]
pub(super) enum Call {
    /// `token: None`: the object draws one.
    Acquire {
        k: usize,
        ttl: f64,
        token: Option<String>,
        patience: Option<f64>,
    },
    SetIfNotExists {
        k: usize,
        json: String,
        ttl: Ttl,
        rid: Option<String>,
    },
    Append {
        k: usize,
        json: String,
        max: Option<f64>,
        ttl: Ttl,
        rid: Option<String>,
    },
    Enqueue {
        k: usize,
        json: String,
        expires_at: i64,
        max: Option<f64>,
        rid: Option<String>,
        caller: Option<String>,
    },
    Dequeue {
        k: usize,
        rid: Option<String>,
        holder: Option<String>,
    },
}

pub(super) fn key() -> impl Strategy<Value = usize> {
    0..KEYS.len()
}

pub(super) fn ttl_ms() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(1.0),
        Just(2.0),
        Just(5.0),
        Just(10.0),
        Just(30.0),
        Just(1.5),
        Just(0.2),
        Just(100_000.0),
    ]
}

pub(super) fn optional_ttl() -> impl Strategy<Value = Ttl> {
    prop_oneof![
        2 => Just(None),
        1 => Just(Some(0.0)),
        6 => ttl_ms().prop_map(Some),
    ]
}

pub(super) fn limit() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![
        Just(None),
        Just(Some(0.0)),
        Just(Some(1.0)),
        Just(Some(2.0)),
        Just(Some(3.0)),
    ]
}

pub(super) fn token() -> impl Strategy<Value = TokenPick> {
    prop_oneof![
        6 => Just(TokenPick::Current),
        3 => (0usize..8).prop_map(TokenPick::Issued),
        1 => Just(TokenPick::Wrong),
    ]
}

pub(super) fn hint() -> impl Strategy<Value = Hint> {
    prop_oneof![
        2 => Just(Hint::None),
        3 => Just(Hint::Holder),
        3 => (0usize..4).prop_map(Hint::Refused),
        1 => (0usize..8).prop_map(Hint::Issued),
    ]
}

pub(super) fn patience() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![
        Just(None),
        Just(Some(3.0)),
        Just(Some(40.0)),
        Just(Some(2_000.0))
    ]
}

/// Most calls carry a request id, as the adapter's do; some do not (direct RPC, older callers).
pub(super) fn with_id() -> impl Strategy<Value = bool> {
    prop_oneof![4 => Just(true), 1 => Just(false)]
}

pub(super) fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => prop_oneof![Just(0i64), Just(1), Just(2), Just(4), Just(9), Just(30), Just(45_000)]
            .prop_map(Op::Advance),
        2 => key().prop_map(Op::Subscribe),
        1 => key().prop_map(Op::Unsubscribe),
        2 => key().prop_map(Op::IsSubscribed),
        6 => (key(), ttl_ms(), any::<bool>(), patience())
            .prop_map(|(k, t, c, p)| Op::Acquire(k, t, c, p)),
        2 => (key(), token()).prop_map(|(k, t)| Op::Release(k, t)),
        3 => (key(), token(), ttl_ms()).prop_map(|(k, t, ttl)| Op::Extend(k, t, ttl)),
        1 => key().prop_map(Op::ForceRelease),
        4 => key().prop_map(Op::Get),
        4 => (key(), any::<u8>(), optional_ttl()).prop_map(|(k, v, t)| Op::Set(k, v, t)),
        3 => (key(), any::<u8>(), optional_ttl(), with_id())
            .prop_map(|(k, v, t, i)| Op::SetIfNotExists(k, v, t, i)),
        1 => key().prop_map(Op::Delete),
        4 => (key(), any::<u8>(), limit(), optional_ttl(), with_id())
            .prop_map(|(k, v, m, t, i)| Op::Append(k, v, m, t, i)),
        3 => key().prop_map(Op::GetList),
        4 => (key(), any::<u8>(), prop_oneof![Just(-1i64), Just(0), Just(1), Just(3), Just(20), Just(1_000_000)], limit(), with_id(), hint())
            .prop_map(|(k, v, e, m, i, h)| Op::Enqueue(k, v, e, m, i, h)),
        5 => (key(), with_id(), hint()).prop_map(|(k, i, h)| Op::Dequeue(k, i, h)),
        2 => (key(), hint()).prop_map(|(k, h)| Op::QueueDepth(k, h)),
        1 => Just(Op::Inspect),
        2 => prop_oneof![3 => Just(None), 1 => (0u8..4).prop_map(Some)].prop_map(Op::Alarm),
        1 => any::<bool>().prop_map(Op::Reopen),
        1 => (0u8..BAD_CALLS, key()).prop_map(|(n, k)| Op::Bad(n, k)),
        4 => (0usize..64).prop_map(Op::Replay),
    ]
}

pub(super) fn value_json(v: u8) -> String {
    // A few shapes of JSON text, including a string with an escaped lone surrogate.
    match v % 4 {
        0 => format!("{v}"),
        1 => format!("\"v{v}\""),
        2 => format!("{{\"n\":{v},\"s\":\"\\ud800\"}}"),
        _ => format!("[{v},null,true]"),
    }
}

impl Call {
    pub(super) fn retryable(&self) -> bool {
        match self {
            Call::Acquire { token, .. } => token.is_some(),
            Call::SetIfNotExists { rid, .. }
            | Call::Append { rid, .. }
            | Call::Enqueue { rid, .. }
            | Call::Dequeue { rid, .. } => rid.is_some(),
        }
    }
}
