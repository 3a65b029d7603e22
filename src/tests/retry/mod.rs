//! Native tests of retry safety (see `idempotency`): a call repeated with the same request id or
//! token after its first attempt ran answers what the first attempt answered and changes no row,
//! also across a re-open of the object (receipts live in rows, not memory).

mod locks_cache_lists;
mod queues;

const TOKEN: &str = "cfdo_0123456789abcdef0123456789abcdef";
const OTHER: &str = "cfdo_ffffffffffffffffffffffffffffffff";
const R1: &str = "r1r1r1r1r1r1r1r1r1r1";
const R2: &str = "r2r2r2r2r2r2r2r2r2r2";
