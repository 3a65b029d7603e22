//! A call's arguments as they arrived, read by position and checked under the name an error
//! gives them.
//!
//! Each data method's arguments are read next to the `Store` method they feed (the `*_call`
//! functions in `model/` and `guarantees/claims.rs`), in the wire order of the protocol table
//! (`ts/shared/methods.ts`). The platform binding implements [`Args`] over what the runtime hands
//! it (on workerd, the JS array: `platform/workerd/args.rs`) and keeps one generic export per
//! method. So adding an argument to a method is one change in the model, plus the table and the
//! adapter on the TypeScript side — and the wrong type of value is refused with the same message
//! wherever it is read.

use crate::base::error::Result;
use crate::guarantees::idempotency::Attempt;

/// Positional arguments. `at` counts from 0 in wire order; a missing argument reads as absent
/// (`undefined`), so an older caller that omits a trailing optional argument keeps its behaviour.
pub trait Args {
    /// A string (well-formed Unicode), required.
    fn string(&self, at: usize, argument: &'static str) -> Result<String>;
    /// A string, or `None` when absent or `null`.
    fn optional_string(&self, at: usize, argument: &'static str) -> Result<Option<String>>;
    /// A number, required.
    fn number(&self, at: usize, argument: &'static str) -> Result<f64>;
    /// A number, or `None` when absent or `null`.
    fn optional_number(&self, at: usize, argument: &'static str) -> Result<Option<f64>>;
    /// A request id (or lock token) at `at`, and the retry flag that always follows it at `at + 1`.
    fn attempt(&self, at: usize, argument: &'static str) -> Result<Option<(String, bool)>>;
    /// Whether an options object is given at `at`: `false` when absent or `null`, an error
    /// naming `argument` when it is not an object.
    fn has_options(&self, at: usize, argument: &'static str) -> Result<bool>;
    /// A number field of the options object at `at` (see [`Args::has_options`]), or `None`.
    fn option_number(
        &self,
        at: usize,
        field: &'static str,
        argument: &'static str,
    ) -> Result<Option<f64>>;
}

/// Borrows a read request id (or token) as the [`Attempt`] the store methods take.
pub fn as_attempt(arg: &Option<(String, bool)>) -> Option<Attempt<'_>> {
    arg.as_ref()
        .map(|(id, retry)| Attempt { id, retry: *retry })
}
