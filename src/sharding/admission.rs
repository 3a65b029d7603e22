//! Admission: whether this object may serve a call on routing key R now, during and after layout
//! changes, and what identifies a layout change. docs/resharding.md ("Admission", "What
//! identifies a migration") is the spec; this follows its decision table row by row, and the row
//! numbers below are the table's.

use crate::base::db::Value;
use crate::base::error::{Error, Result};
use crate::base::store::Store;
use crate::sharding::migration::{memo_key, Admission, Handed};
use crate::sharding::routing::Router;

/// What the caller said about its routing (`via`, see ts/object/handoff.ts).
#[derive(Debug, Clone, Copy, Default)]
pub struct Caller<'a> {
    /// The object the caller meant (`via.self`): this one, named as the caller's layout names it.
    pub self_name: Option<&'a str>,
    /// R's previous home under the caller's migration, when it is another object (`via.from`).
    pub from: Option<&'a str>,
    /// The id of the migration the caller routes with (`via.migration.id`), if it has one.
    pub migration: Option<&'a str>,
}

/// The two layout identities a migration id joins: `<previous>-><new>`. Identities end in `)` and
/// escape `)` in the names they hold (ts/worker/layout.ts), so the first `)->` separates them. `None` for
/// an id not of that form (it is then never "one change behind" another).
pub fn layouts_of(id: &str) -> Option<(&str, &str)> {
    let at = id.find(")->")?;
    Some((&id[..=at], &id[at + 3..]))
}

/// Whether a caller on migration `call` is one layout change behind migration `current`: its new
/// layout is `current`'s previous layout. A change and its reverse (a → b, b → a) cannot be told
/// apart this way — each is "behind" the other — so neither counts as behind: the caller is
/// refused while `current` has not drained, and starts a new change after (see the spec).
pub fn is_behind(call: &str, current: &str) -> bool {
    let (Some((call_from, call_to)), Some((cur_from, cur_to))) =
        (layouts_of(call), layouts_of(current))
    else {
        return false;
    };
    call != current && call_to == cur_from && call_from != cur_to
}

impl<D: crate::base::db::Database> Store<D> {
    /// Where a call for `routing_key` may be served (docs/resharding.md, "Admission").
    /// `thread_call`: the call is thread-scoped (subscriptions, locks, queues) rather than on a
    /// cache or list key — a previous layout may have kept the two parts of a unit on different
    /// objects (0.1.x did). `thread_unit`: R is a thread's (a thread-scoped call or a
    /// thread-derived key), which a `shardKey` layout places by the caller's function.
    pub fn admit(
        &self,
        routing_key: &str,
        thread_call: bool,
        thread_unit: bool,
        caller: Caller<'_>,
        now: i64,
    ) -> Result<Admission> {
        let mut migration = caller.migration;
        let mut from = caller.from;
        // Row 1: a caller one layout change behind is an old-layout caller of the change this
        // object takes part in now: it routed with that change's previous layout.
        if let Some(call) = migration {
            if self.is_behind_known(call)? {
                migration = None;
                from = None;
            }
        }
        // Row 2: two migrations at once are refused.
        if let Some(call) = migration {
            self.refuse_other_outgoing(call)?;
            self.refuse_other_incoming(call, caller.self_name)?;
        }
        // Rows 3–5: as a previous home.
        if let Some(out) = self.outgoing()? {
            // Row 3: sealed (or a marker): served elsewhere.
            if let Some(dest) = self.sealed_for(routing_key)? {
                return Ok(Admission::Moved {
                    object: dest,
                    layout: out.migration.layout,
                });
            }
            if let Some(layout) = &out.migration.layout {
                // Row 4: computable, not held here, its new home is another object.
                let home = Router::from_desc(layout)?.home_of(routing_key);
                if home != out.name && !self.holds(routing_key, None, now)? {
                    return Ok(Admission::Moved {
                        object: home,
                        layout: Some(layout.clone()),
                    });
                }
            } else if out.drained_at.is_some() && !self.holds(routing_key, None, now)? {
                // Row 5: drained under a shardKey layout and R is not held here. A caller on
                // that layout that names this object as R's home is served (row 6 on): R's
                // new home is this very object. A key that is not a thread's has its new home
                // on the base object, which this object can name. Otherwise creating R here
                // could split it from its new home: refused.
                let on_new_layout = migration == Some(out.migration.id.as_str())
                    && caller.self_name == Some(out.name.as_str());
                if !on_new_layout {
                    match &out.migration.base {
                        Some(base) if !thread_unit && *base == out.name => {
                            return Ok(Admission::Serve)
                        }
                        Some(base) if !thread_unit => {
                            return Ok(Admission::Moved {
                                object: base.clone(),
                                layout: None,
                            })
                        }
                        _ => {
                            return Err(Error::invalid(
                                "layout",
                                format!(
                                    "routing key {routing_key:?}: object {} has handed its keys \
                                     over to a layout it cannot compute (a shardKey function); \
                                     route this call with the new layout",
                                    out.name
                                ),
                            ))
                        }
                    }
                }
            }
        }
        // Rows 6–8: as a new home.
        let Some(source) = from else {
            return Ok(Admission::Serve); // row 6: no previous home to ask
        };
        if caller.self_name == Some(source) {
            return Ok(Admission::Serve); // R stays here
        }
        let migration_id = migration.unwrap_or("");
        if self
            .owned_memo
            .contains(&memo_key(migration_id, routing_key))
            || self.source_drained(source, migration_id)?
            || self.imported(routing_key)?
            || self.holds(routing_key, Some(thread_call), now)?
        {
            return Ok(Admission::Serve); // row 7
        }
        Ok(Admission::Pull {
            source: source.to_owned(),
            routing_key: routing_key.to_owned(),
        }) // row 8
    }

    /// Whether a caller on migration `call` is one change behind a migration this object takes
    /// part in (as a previous home, or as a new home with a record of it).
    pub fn is_behind_known(&self, call: &str) -> Result<bool> {
        if let Some(out) = self.outgoing()? {
            if is_behind(call, &out.migration.id) {
                return Ok(true);
            }
        }
        Ok(self
            .incoming()?
            .iter()
            .any(|(current, _)| is_behind(call, current)))
    }

    /// Whether a call on `migration_id` finds this object the previous home of another,
    /// drained migration that it must retire first (see `forget_outgoing`): not when the call is
    /// one change behind it. Answers from memory: every call of a migrating Worker asks.
    pub fn must_retire_for(&self, migration_id: &str) -> Result<bool> {
        let Some(out) = self.outgoing()? else {
            return Ok(false);
        };
        if out.migration.id == migration_id || out.drained_at.is_none() {
            return Ok(false);
        }
        Ok(!self.is_behind_known(migration_id)?)
    }

    /// This object is about to take part in `migration_id` (as a new home serving or receiving
    /// units, or as a previous home starting it). If it is the previous home of another
    /// migration, that one must be over and retired first (see [`Store::forget_outgoing`]): an
    /// undrained one means two migrations at once (refused); a drained one is retired by the
    /// shell once its new homes have heard of it.
    pub(crate) fn refuse_other_outgoing(&self, migration_id: &str) -> Result<()> {
        let Some(out) = self.outgoing()? else {
            return Ok(());
        };
        if out.migration.id == migration_id {
            return Ok(());
        }
        if out.drained_at.is_none() {
            return Err(Error::invalid(
                "migrateFrom",
                format!(
                    "object {} is still moving its keys for another layout change (migration {}); \
                     wait until it is drained (drainMigration() reports it) before changing the \
                     layout again",
                    out.name, out.migration.id
                ),
            ));
        }
        Err(Error::storage(format!(
            "object {} must retire migration {} before it takes part in another",
            out.name, out.migration.id
        )))
    }

    /// A call on migration `migration_id` while this object still receives units of another one
    /// (a previous home of it has not drained): serving it could create a unit the earlier
    /// change has yet to bring here (a state split). Refused, nothing changed.
    fn refuse_other_incoming(&self, migration_id: &str, self_name: Option<&str>) -> Result<()> {
        let incoming = self.incoming()?;
        let Some((other, _)) = incoming
            .iter()
            .find(|(m, drained)| !drained && m != migration_id)
        else {
            return Ok(());
        };
        Err(Error::invalid(
            "migrateFrom",
            format!(
                "object {} is still receiving keys from an earlier layout change (migration \
                 {other}); wait until it is drained (drainMigration() reports it) before changing \
                 the layout again",
                self_name.unwrap_or("(this object)")
            ),
        ))
    }

    /// The migrations this object has records of as a new home, with whether each source of it
    /// has drained (all of them, for a migration with several). From memory after the first read.
    pub(crate) fn incoming(&self) -> Result<Vec<(String, bool)>> {
        if let Some(known) = self.incoming_cache.borrow().as_ref() {
            return Ok(known.clone());
        }
        let read: Vec<(String, bool)> = self
            .db
            .exec(
                "SELECT migration, MIN(drained) FROM handoff_sources GROUP BY migration",
                &[],
            )?
            .into_iter()
            .filter_map(|row| {
                let mut c = row.into_iter();
                let id = c.next().and_then(Value::into_text)?;
                let drained = c.next().and_then(|v| v.as_int()).unwrap_or(0) != 0;
                Some((id, drained))
            })
            .collect();
        *self.incoming_cache.borrow_mut() = Some(read.clone());
        Ok(read)
    }

    /// `handoff_sources` is about to change: the next [`Store::incoming`] reads it again.
    pub(crate) fn forget_incoming(&self) {
        *self.incoming_cache.borrow_mut() = None;
    }

    /// A new home asks for R under `migration_id`, a change one behind the one this object takes
    /// part in now (a Worker still on the earlier change called it). That change is over here —
    /// this object drained and retired it before taking part in the next — so nothing of R waits
    /// here for the asker: answered from the current change (`None`: not such a call).
    pub fn hand_over_behind(
        &self,
        routing_key: &str,
        migration_id: &str,
        self_name: &str,
        now: i64,
    ) -> Result<Option<Handed>> {
        if !self.is_behind_known(migration_id)? {
            return Ok(None);
        }
        if let Some(dest) = self.sealed_for(routing_key)? {
            return Ok(Some(Handed::Moved { object: dest }));
        }
        if self.holds(routing_key, None, now)? {
            // Created here under the current change: it lives here, not at the asker.
            return Ok(Some(Handed::Moved {
                object: self_name.to_owned(),
            }));
        }
        Ok(Some(Handed::Nothing))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migration_ids_split_into_their_two_layouts() {
        assert_eq!(
            layouts_of("shards(a,1)->shards(a,4)"),
            Some(("shards(a,1)", "shards(a,4)"))
        );
        // Names are escaped by the adapter: `->` inside one does not end the first identity.
        assert_eq!(
            layouts_of("shards(a->b,1)->shardKey(a->b,v2)"),
            Some(("shards(a->b,1)", "shardKey(a->b,v2)"))
        );
        assert_eq!(layouts_of("not-a-migration"), None);
    }

    #[test]
    fn one_change_behind_is_the_change_before_and_never_its_reverse() {
        let first = "shards(a,1)->shards(a,4)";
        let second = "shards(a,4)->shards(a,8)";
        assert!(is_behind(first, second));
        assert!(!is_behind(second, first));
        assert!(!is_behind(first, first));
        // a → b then b → a: each would be "behind" the other; neither is.
        assert!(!is_behind(
            "shards(a,1)->shards(b,1)",
            "shards(b,1)->shards(a,1)"
        ));
        assert!(!is_behind("garbage", second));
    }
}
