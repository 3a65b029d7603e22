//! Model-based property test of the store, natively, with an exact clock.
//!
//! A small reference model of the contract (Redis semantics, strict TTL reads) runs beside the
//! real `Store` over rusqlite. proptest generates sequences of every store operation over a
//! three-key space, with random values, TTLs a few milliseconds long, clock steps that land on
//! and around every deadline, bad arguments, alarm sweeps (some with an injected SQLite failure
//! part-way), re-opens of the object (with its alarm kept or lost), and *replays*: a retryable
//! call made earlier is made again with the same request id or lock token, as the adapter does
//! after a lost reply (possibly after other calls and a re-open in between). Each operation's result
//! is compared with the model's; after each one the invariants below are checked. On a failure
//! proptest shrinks the sequence and the panic message shows the minimal one.
//!
//! The model knows the early grant of `tenure` (the lock granted before the holder's release) in its own terms: a tenure is a grant by this
//! instance (forgotten on a re-open); its holder's dequeues are a list of "got an entry or not"; an
//! empty dequeue is final when the previous one got nothing; after a final one, an acquire is
//! granted at once; a refused acquire is awaited for two patiences (one after its queueDepth)
//! and a final dequeue that finds nothing meanwhile is *held* — the harness keeps it pending, asks
//! again after every later operation, as the shell does, and checks when and how it resolves.
//!
//! Invariants checked after every operation:
//! - every result equals the model's (tokens excepted: the model records the real token and
//!   checks it is new and unguessable-looking);
//! - a rejected call changed no row (SQLite's change counter did not move);
//! - a replay the model recognises as a retry of a call that ran answers what that call answered
//!   and changes no row (full table snapshot);
//! - whenever a row with a deadline exists, an alarm is armed in the runtime (simulated: the
//!   last time the store asked for, cleared when it fires, re-armed by the runtime's retry when
//!   the handler fails);
//! - after a successful sweep no expired row is left, and the live counts `inspect()` reports
//!   equal the model's.
//!
//! `MODEL_SEQUENCES` sets the number of sequences (default 1,000); soak runs raise it.
//! `MODEL_SEED` picks the seed (default 42, fixed).
//!
//! The rooms: `ops` (what a sequence is made of, and its strategies) and `bad_calls`;
//! `reference` (the model); `harness` (the store and its runtime, and the readings compared);
//! `call` (one retryable call on both sides); `sequence` (one sequence, with the invariants);
//! `stats` (the figures printed at the end).

mod bad_calls;
mod call;
mod harness;
mod ops;
mod reference;
mod sequence;
mod stats;

use std::sync::atomic::Ordering;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestError, TestRunner};

use stats::{
    BAD_CALLS_TRIED, EARLY_GRANTS, FAILED_SWEEPS, FENCED, HELD, OPS, REOPENS, REPLAYS,
    REPLAYS_DEDUPED, SWEEPS,
};

fn sequences() -> u32 {
    std::env::var("MODEL_SEQUENCES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000)
}

#[test]
fn store_matches_the_model() {
    let cases = sequences();
    // A fixed seed: `cargo test` in `npm test` is a gate and replays as it stands; MODEL_SEED picks
    // others (as in the workerd model tests). MODEL_SEED=1818 finds a dequeue the store holds for
    // an announcement where the model expects none (issue 18's open model mismatches).
    let seed = std::env::var("MODEL_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(42);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        rng_seed: proptest::test_runner::RngSeed::Fixed(seed),
        ..Config::default()
    });
    let strategy = prop::collection::vec(ops::op(), 1..80);
    match runner.run(&strategy, |ops| sequence::run_sequence(&ops)) {
        Ok(()) => eprintln!(
            "model (native): {cases} sequences, {} operations matched the store; {} sweeps \
             ({} with an injected failure), {} re-opens, {} bad calls, {} replays ({} of a \
             call that had taken effect), {} early grants, {} held dequeues, {} fenced retries",
            OPS.load(Ordering::Relaxed),
            SWEEPS.load(Ordering::Relaxed),
            FAILED_SWEEPS.load(Ordering::Relaxed),
            REOPENS.load(Ordering::Relaxed),
            BAD_CALLS_TRIED.load(Ordering::Relaxed),
            REPLAYS.load(Ordering::Relaxed),
            REPLAYS_DEDUPED.load(Ordering::Relaxed),
            EARLY_GRANTS.load(Ordering::Relaxed),
            HELD.load(Ordering::Relaxed),
            FENCED.load(Ordering::Relaxed),
        ),
        Err(TestError::Fail(reason, minimal)) => {
            panic!(
                "{reason}\nminimal failing sequence ({} ops):\n{minimal:#?}",
                minimal.len()
            )
        }
        Err(e) => panic!("{e}"),
    }
}
