//! The in-memory view of the object's one alarm: what is armed, and what the last write asked
//! for. A Durable Object has a single alarm; every deadline-bearing write tells this schedule its
//! deadline, and the wasm layer passes a pending request to `ctx.storage.setAlarm` right after the
//! operation. Why most writes never move it, and what the alarm does when it fires, is the sweep's
//! story (`model::expiry`); this module only keeps the bookkeeping, so that the store can hold it
//! without depending on the sweep.

use std::cell::Cell;

/// How urgently a deadline wants its row deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cleanup {
    /// Cache values and lists: arm the alarm for this deadline if it is the earliest.
    AtDeadline,
    /// Locks and queue entries: only make sure an alarm is armed at all.
    Eventually,
}

/// The in-memory view of the object's one alarm.
#[derive(Debug, Default)]
pub struct AlarmSchedule {
    armed: Cell<Option<i64>>,
    request: Cell<Option<i64>>,
}

impl AlarmSchedule {
    pub fn new(armed: Option<i64>) -> Self {
        AlarmSchedule {
            armed: Cell::new(armed),
            request: Cell::new(None),
        }
    }

    pub fn armed(&self) -> Option<i64> {
        self.armed.get()
    }

    /// Records a deadline just written; asks for the alarm to move if it must.
    pub fn note_deadline(&self, deadline: i64, cleanup: Cleanup) {
        let must_arm = match (self.armed.get(), cleanup) {
            (None, _) => true,
            (Some(armed), Cleanup::AtDeadline) => deadline < armed,
            (Some(_), Cleanup::Eventually) => false,
        };
        if must_arm {
            self.request(deadline);
        }
    }

    /// Asks for the alarm at `at`. Recorded as armed at once, so later writes in the same
    /// turn compare against it; [`AlarmSchedule::forget`] undoes that if `setAlarm` fails.
    pub fn request(&self, at: i64) {
        self.armed.set(Some(at));
        self.request.set(Some(at));
    }

    pub fn pending_request(&self) -> Option<i64> {
        self.request.get()
    }

    pub fn take_request(&self) -> Option<i64> {
        self.request.take()
    }

    pub fn forget(&self) {
        self.armed.set(None);
    }

    /// The runtime clears the alarm before running its handler.
    pub(crate) fn fired(&self) {
        self.armed.set(None);
        self.request.set(None);
    }
}
