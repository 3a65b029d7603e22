//! Which object a key lives on ([`routing`]) and moving keys online from one layout to another
//! (the rest). The protocol — its states, messages and invariants — is written down once, in
//! `docs/resharding.md`; each module's head names the part of it the module implements.
//!
//! Types first, free of the store: [`migration`] (a migration and its messages), [`unit`] (a
//! moving unit's rows), [`stuck`]. The store's operations, each on its own job: [`outgoing`] (the
//! previous home's record), [`admission`], [`sealing`] (the previous home's side), [`tables`]
//! (the rows a unit moves, table by table), [`unit_rows`] (a unit's rows here), [`pages`], [`import`] (the new home's side),
//! [`drain`], [`guard`]. [`wire`] is a unit's JS form.

pub mod admission;
pub mod drain;
pub mod guard;
pub mod import;
pub mod migration;
pub mod outgoing;
pub mod pages;
pub mod routing;
pub mod sealing;
pub mod stuck;
pub mod tables;
pub mod unit;
pub mod unit_rows;
pub mod wire;
