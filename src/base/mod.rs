//! What every operation stands on: the SQL interface, the schema, the [`store::Store`], argument
//! checks and the error type.

pub mod alarm;
pub mod args;
pub mod db;
pub mod error;
pub mod live;
pub mod memo;
pub mod schema;
pub mod store;
pub mod validate;
