//! The bounded memo: what this instance has learned and SQLite also holds, kept in memory so
//! that a hot call can skip a read.
//!
//! Every memo of [`crate::base::store::Store`] is one of these (the queues' live floors, the
//! re-sharding memos of owned units, staying units and drained sources, the read cache's two
//! kinds), so the rule is stated once:
//!
//! - **Memory only, and always safe to forget.** An entry only saves a read; a miss reads SQLite
//!   and learns again. A reset loses the memo with the instance, and whatever writes rows behind
//!   the store's back clears it.
//! - **Bounded by clearing when full.** Inserting a new key into a memo holding `capacity`
//!   entries first clears it wholesale. That is simpler and cheaper per call than an LRU, and a
//!   bot that touches more keys than the bound only pays the reads the memo would have saved.
//!   Updating a key already held never clears.
//!
//! Interior mutability (a `RefCell`) because the store's methods take `&self`: a Durable Object
//! runs one call at a time, and no borrow outlives a method of this type.

use std::borrow::Borrow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::Hash;

#[derive(Debug)]
pub struct Memo<K, V> {
    map: RefCell<HashMap<K, V>>,
    capacity: usize,
}

/// A memo of keys alone (a fact that holds or is not known).
pub type MemoSet<K> = Memo<K, ()>;

impl<K: Eq + Hash, V> Memo<K, V> {
    pub fn new(capacity: usize) -> Self {
        Memo {
            map: RefCell::new(HashMap::new()),
            capacity,
        }
    }

    /// What is known of `key`, if anything.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        V: Clone,
    {
        self.map.borrow().get(key).cloned()
    }

    pub fn contains<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.borrow().contains_key(key)
    }

    /// Records `value` for `key`, clearing the memo first when it is full and `key` is new.
    /// Returns the value it replaced.
    pub fn insert(&self, key: K, value: V) -> Option<V> {
        let mut map = self.map.borrow_mut();
        if map.len() >= self.capacity && !map.contains_key(&key) {
            map.clear();
        }
        map.insert(key, value)
    }

    /// Changes what is known of `key` in place, if anything is.
    pub fn update<Q>(&self, key: &Q, change: impl FnOnce(&mut V))
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if let Some(value) = self.map.borrow_mut().get_mut(key) {
            change(value);
        }
    }

    pub fn remove<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.borrow_mut().remove(key)
    }

    /// Keeps only the entries `keep` accepts.
    pub fn retain(&self, mut keep: impl FnMut(&K, &V) -> bool) {
        self.map.borrow_mut().retain(|k, v| keep(k, v));
    }

    pub fn clear(&self) {
        self.map.borrow_mut().clear();
    }

    pub fn len(&self) -> usize {
        self.map.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.borrow().is_empty()
    }

    /// Whether inserting `key` now would clear the memo first.
    pub fn full_for<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let map = self.map.borrow();
        map.len() >= self.capacity && !map.contains_key(key)
    }
}

impl<K: Eq + Hash> Memo<K, ()> {
    /// Records that `key` holds (a [`MemoSet`]).
    pub fn note(&self, key: K) {
        self.insert(key, ());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clears_when_a_new_key_finds_it_full() {
        let memo: Memo<String, i64> = Memo::new(3);
        for (i, k) in ["a", "b", "c"].iter().enumerate() {
            memo.insert((*k).to_owned(), i as i64);
        }
        // Updating a held key never clears.
        memo.insert("a".to_owned(), 10);
        assert_eq!(memo.len(), 3);
        assert_eq!(memo.get("a"), Some(10));
        // A new key finds it full: everything else is forgotten.
        assert!(memo.full_for("d"));
        memo.insert("d".to_owned(), 4);
        assert_eq!(memo.len(), 1);
        assert_eq!(memo.get("a"), None);
        assert_eq!(memo.get("d"), Some(4));
    }

    #[test]
    fn update_retain_and_sets() {
        let memo: Memo<String, i64> = Memo::new(10);
        memo.insert("q".to_owned(), 1);
        memo.update("q", |v| *v = (*v).max(5));
        memo.update("absent", |v| *v = 99);
        assert_eq!(memo.get("q"), Some(5));
        assert!(!memo.contains("absent"));
        memo.insert("r".to_owned(), 2);
        memo.retain(|k, _| k != "q");
        assert_eq!(memo.len(), 1);

        let set: MemoSet<String> = Memo::new(2);
        set.note("x".to_owned());
        assert!(set.contains("x"));
        set.clear();
        assert!(set.is_empty());
    }
}
