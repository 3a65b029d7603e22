//! Which object a key lives on ([`routing`]) and moving keys online from one layout to another
//! (the rest). The protocol — its states, messages and invariants — is written down once, in
//! `docs/resharding.md`; each module's head names the part of it the module implements.

pub mod admission;
pub mod guard;
pub mod handoff;
pub mod pages;
pub mod routing;
pub mod stuck;
pub mod wire;
