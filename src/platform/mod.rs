//! The binding to the platform: [`workerd`] implements [`crate::base::db::Database`] over
//! `ctx.storage.sql` and exports the object's methods to JavaScript; `native_db` does the same
//! over rusqlite for the native tests.

#[cfg(test)]
pub(crate) mod native_db;
pub mod workerd;
