//! The state chat keeps: each module adds one family of `StateAdapter` operations to
//! [`crate::base::store::Store`], plus the expiry sweep and the operators' counts.

pub mod cache;
pub mod expiry;
pub mod inspect;
pub mod lists;
pub mod locks;
pub mod queues;
pub mod subscriptions;
