//! The wire form of the re-sharding messages between objects: a unit's rows as nested arrays of
//! plain values (strings, numbers, null), and a migration as a small object.
//!
//! Written by hand rather than with serde: these are the only structured values that cross the
//! JS boundary *into* the core, and serde's generic deserializers cost the wasm module more than
//! a third of its size. The shapes (opaque to ts/object/handoff.ts, which only passes them on):
//! - unit: `[routingKey, subscribed, lock, cache, lists, items, queue]` with `lock` `[token,
//!   expiresAt] | null`, cache rows `[key, value, expiresAt, requestId]`, list rows `[listKey,
//!   expiresAt]`, items `[listKey, seq, value, requests, expiresAt]` (`expiresAt` absent from
//!   builds before layout 4: read as null), queue rows `[seq, value, expiresAt,
//!   requestId, depth, takenBy, retainUntil]` (absent values are `null`), and an optional eighth
//!   element, the lock's tenure `[token, expiresAt, lastTookEntry, lastEmptyRequest, drained,
//!   announcements, waitingSince, dequeued?, ownEnqueue?, lastUnknown?]` with announcements
//!   `[token, deadline, patience]` and `ownEnqueue` `[requestId] | null` (builds before it send
//!   none and ignore it; the last three came later: absent, they read as "dequeued if a dequeue
//!   was made", none, false; docs/resharding.md "Spec: units" is the full table). The new home
//!   keeps the announcements as rows too (src/guarantees/announcements.rs): nothing else moves for them;
//! - migration: `{ id, layout: { name, shards } | null, jurisdiction: string | null, base:
//!   string | null }`.

use js_sys::{Array, Reflect};
use wasm_bindgen::{JsCast, JsValue};

use crate::base::error::{Error, Result};
use crate::guarantees::tenure::MovingTenure;
use crate::sharding::migration::Migration;
use crate::sharding::routing::LayoutDesc;
use crate::sharding::unit::{CacheRow, ListItemRow, ListRow, PageInfo, QueueRow, Shape, Unit};

fn bad(what: &str) -> Error {
    Error::invalid("unit", format!("is malformed: {what}"))
}

fn array(v: &JsValue, what: &str) -> Result<Array> {
    v.dyn_ref::<Array>().cloned().ok_or_else(|| bad(what))
}

fn at(a: &Array, i: u32) -> JsValue {
    a.get(i)
}

fn string(v: &JsValue, what: &str) -> Result<String> {
    v.as_string().ok_or_else(|| bad(what))
}

fn opt_string(v: &JsValue, what: &str) -> Result<Option<String>> {
    if v.is_null() || v.is_undefined() {
        Ok(None)
    } else {
        string(v, what).map(Some)
    }
}

fn int(v: &JsValue, what: &str) -> Result<i64> {
    match v.as_f64() {
        Some(n) if n.is_finite() && n.fract() == 0.0 && n.abs() <= 9.007_199_254_740_991e15 => {
            Ok(n as i64)
        }
        _ => Err(bad(what)),
    }
}

fn opt_int(v: &JsValue, what: &str) -> Result<Option<i64>> {
    if v.is_null() || v.is_undefined() {
        Ok(None)
    } else {
        int(v, what).map(Some)
    }
}

fn opt_bool(v: &JsValue, what: &str) -> Result<Option<bool>> {
    if v.is_null() || v.is_undefined() {
        Ok(None)
    } else {
        v.as_bool().map(Some).ok_or_else(|| bad(what))
    }
}

fn js_opt_str(v: &Option<String>) -> JsValue {
    v.as_deref().map_or(JsValue::NULL, JsValue::from_str)
}

fn js_opt_int(v: Option<i64>) -> JsValue {
    v.map_or(JsValue::NULL, |n| JsValue::from_f64(n as f64))
}

fn js_int(n: i64) -> JsValue {
    JsValue::from_f64(n as f64)
}

fn rows<T>(v: &JsValue, what: &str, row: impl Fn(&Array) -> Result<T>) -> Result<Vec<T>> {
    array(v, what)?
        .iter()
        .map(|r| row(&array(&r, what)?))
        .collect()
}

pub fn unit_to_js(unit: &Unit) -> JsValue {
    let out = Array::new();
    out.push(&JsValue::from_str(&unit.routing_key));
    out.push(&JsValue::from_bool(unit.subscribed));
    out.push(&match &unit.lock {
        Some((token, expires)) => Array::of2(&JsValue::from_str(token), &js_int(*expires)).into(),
        None => JsValue::NULL,
    });
    let list = |items: Vec<Array>| -> JsValue { items.into_iter().collect::<Array>().into() };
    out.push(&list(
        unit.cache
            .iter()
            .map(|c| {
                Array::of4(
                    &JsValue::from_str(&c.key),
                    &JsValue::from_str(&c.value),
                    &js_opt_int(c.expires_at),
                    &js_opt_str(&c.request_id),
                )
            })
            .collect(),
    ));
    out.push(&list(
        unit.lists
            .iter()
            .map(|l| Array::of2(&JsValue::from_str(&l.list_key), &js_opt_int(l.expires_at)))
            .collect(),
    ));
    out.push(&list(
        unit.list_items
            .iter()
            .map(|i| {
                Array::of5(
                    &JsValue::from_str(&i.list_key),
                    &js_int(i.seq),
                    &JsValue::from_str(&i.value),
                    &js_opt_str(&i.requests),
                    &js_opt_int(i.expires_at),
                )
            })
            .collect(),
    ));
    out.push(&list(
        unit.queue
            .iter()
            .map(|q| {
                let row = Array::new();
                row.push(&js_int(q.seq));
                row.push(&JsValue::from_str(&q.value));
                row.push(&js_int(q.expires_at));
                row.push(&js_opt_str(&q.request_id));
                row.push(&js_opt_int(q.depth));
                row.push(&js_opt_str(&q.taken_by));
                row.push(&js_opt_int(q.retain_until));
                row
            })
            .collect(),
    ));
    // Optional eighth element (absent from builds before it; they ignore it).
    if let Some(t) = &unit.tenure {
        let row = Array::new();
        row.push(&JsValue::from_str(&t.token));
        row.push(&js_int(t.expires_at));
        row.push(&t.last_took_entry.map_or(JsValue::NULL, JsValue::from_bool));
        row.push(&js_opt_str(&t.last_empty_request));
        row.push(&JsValue::from_bool(t.drained));
        row.push(&list(
            t.announcements
                .iter()
                .map(|(token, deadline, patience)| {
                    Array::of3(&js_opt_str(token), &js_int(*deadline), &js_int(*patience))
                })
                .collect(),
        ));
        row.push(&js_opt_int(t.waiting_since));
        // Appended later (builds before them read the first seven and ignore these).
        row.push(&t.dequeued.map_or(JsValue::NULL, JsValue::from_bool));
        row.push(&match &t.own_enqueue {
            None => JsValue::NULL,
            Some(request_id) => Array::of1(&js_opt_str(request_id)).into(),
        });
        row.push(&JsValue::from_bool(t.last_unknown));
        out.push(&row);
    }
    out.into()
}

fn tenure_from_js(v: &JsValue) -> Result<Option<MovingTenure>> {
    if v.is_null() || v.is_undefined() {
        return Ok(None);
    }
    let t = array(v, "tenure")?;
    let last = at(&t, 2);
    Ok(Some(MovingTenure {
        token: string(&at(&t, 0), "tenure token")?,
        expires_at: int(&at(&t, 1), "tenure expiry")?,
        last_took_entry: if last.is_null() || last.is_undefined() {
            None
        } else {
            Some(last.as_bool().ok_or_else(|| bad("tenure last dequeue"))?)
        },
        last_empty_request: opt_string(&at(&t, 3), "tenure request id")?,
        drained: at(&t, 4).as_bool().ok_or_else(|| bad("tenure drained"))?,
        announcements: rows(&at(&t, 5), "tenure announcements", |a| {
            Ok((
                opt_string(&at(a, 0), "announcement token")?,
                int(&at(a, 1), "announcement deadline")?,
                int(&at(a, 2), "announcement patience")?,
            ))
        })?,
        waiting_since: opt_int(&at(&t, 6), "tenure wait")?,
        dequeued: opt_bool(&at(&t, 7), "tenure dequeued")?,
        own_enqueue: {
            let own = at(&t, 8);
            if own.is_null() || own.is_undefined() {
                None
            } else {
                Some(opt_string(
                    &at(&array(&own, "tenure own enqueue")?, 0),
                    "tenure own enqueue",
                )?)
            }
        },
        last_unknown: opt_bool(&at(&t, 9), "tenure last unknown")?.unwrap_or(false),
    }))
}

pub fn unit_from_js(v: &JsValue) -> Result<Unit> {
    let a = array(v, "not an array")?;
    let lock_v = at(&a, 2);
    let lock = if lock_v.is_null() || lock_v.is_undefined() {
        None
    } else {
        let l = array(&lock_v, "lock")?;
        Some((
            string(&at(&l, 0), "lock token")?,
            int(&at(&l, 1), "lock expiry")?,
        ))
    };
    Ok(Unit {
        routing_key: string(&at(&a, 0), "routing key")?,
        subscribed: at(&a, 1).as_bool().ok_or_else(|| bad("subscribed"))?,
        lock,
        cache: rows(&at(&a, 3), "cache rows", |r| {
            Ok(CacheRow {
                key: string(&at(r, 0), "cache key")?,
                value: string(&at(r, 1), "cache value")?,
                expires_at: opt_int(&at(r, 2), "cache expiry")?,
                request_id: opt_string(&at(r, 3), "cache request id")?,
            })
        })?,
        lists: rows(&at(&a, 4), "list rows", |r| {
            Ok(ListRow {
                list_key: string(&at(r, 0), "list key")?,
                expires_at: opt_int(&at(r, 1), "list expiry")?,
            })
        })?,
        list_items: rows(&at(&a, 5), "list items", |r| {
            Ok(ListItemRow {
                list_key: string(&at(r, 0), "item list key")?,
                seq: int(&at(r, 1), "item seq")?,
                value: string(&at(r, 2), "item value")?,
                requests: opt_string(&at(r, 3), "item receipts")?,
                expires_at: opt_int(&at(r, 4), "item expiry")?,
            })
        })?,
        queue: rows(&at(&a, 6), "queue rows", |r| {
            Ok(QueueRow {
                seq: int(&at(r, 0), "entry seq")?,
                value: string(&at(r, 1), "entry value")?,
                expires_at: int(&at(r, 2), "entry expiry")?,
                request_id: opt_string(&at(r, 3), "entry request id")?,
                depth: opt_int(&at(r, 4), "entry depth")?,
                taken_by: opt_string(&at(r, 5), "entry taker")?,
                retain_until: opt_int(&at(r, 6), "entry retention")?,
            })
        })?,
        tenure: tenure_from_js(&at(&a, 7))?,
    })
}

/// A unit's shape: `[lock, queue, cacheKeys, listKeys]`.
pub fn shape_to_js(shape: &Shape) -> JsValue {
    let keys = |keys: &[String]| -> JsValue {
        keys.iter()
            .map(|k| JsValue::from_str(k))
            .collect::<Array>()
            .into()
    };
    let out = Array::new();
    out.push(&JsValue::from_bool(shape.lock));
    out.push(&JsValue::from_bool(shape.queue));
    out.push(&keys(&shape.cache_keys));
    out.push(&keys(&shape.list_keys));
    out.into()
}

pub fn shape_from_js(v: &JsValue) -> Result<Option<Shape>> {
    if v.is_null() || v.is_undefined() {
        return Ok(None);
    }
    let a = array(v, "shape")?;
    let keys = |v: JsValue| -> Result<Vec<String>> {
        array(&v, "shape keys")?
            .iter()
            .map(|k| string(&k, "shape key"))
            .collect()
    };
    Ok(Some(Shape {
        lock: at(&a, 0).as_bool().ok_or_else(|| bad("shape lock"))?,
        queue: at(&a, 1).as_bool().ok_or_else(|| bad("shape queue"))?,
        cache_keys: keys(at(&a, 2))?,
        list_keys: keys(at(&a, 3))?,
    }))
}

/// Sets a page's `from`, `next` and `shape` on a message object.
pub fn set_page(out: &JsValue, page: &PageInfo) -> std::result::Result<(), JsValue> {
    Reflect::set(out, &"from".into(), &JsValue::from_str(&page.from))?;
    Reflect::set(out, &"next".into(), &js_opt_str(&page.next))?;
    if let Some(shape) = &page.shape {
        Reflect::set(out, &"shape".into(), &shape_to_js(shape))?;
    }
    Ok(())
}

fn field(v: &JsValue, name: &str) -> JsValue {
    Reflect::get(v, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
}

pub fn migration_from_js(v: &JsValue) -> Result<Migration> {
    let invalid = |what: &str| Error::invalid("migration", format!("is malformed: {what}"));
    if !v.is_object() {
        return Err(invalid("not an object"));
    }
    let id = field(v, "id").as_string().ok_or_else(|| invalid("id"))?;
    let layout_v = field(v, "layout");
    let layout = if layout_v.is_null() || layout_v.is_undefined() {
        None
    } else {
        Some(LayoutDesc {
            name: field(&layout_v, "name")
                .as_string()
                .ok_or_else(|| invalid("layout.name"))?,
            shards: field(&layout_v, "shards")
                .as_f64()
                .filter(|n| n.fract() == 0.0 && (1.0..=1024.0).contains(n))
                .ok_or_else(|| invalid("layout.shards"))? as u32,
        })
    };
    let jurisdiction = field(v, "jurisdiction").as_string();
    let base = field(v, "base").as_string();
    Ok(Migration {
        id,
        layout,
        jurisdiction,
        base,
    })
}
