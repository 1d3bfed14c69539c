//! What the portal keeps in memory between views, in the two shapes it takes: rows kept under
//! the version the database held for them when they were read, and drawings kept beside the
//! very rows they were drawn from. The database stays the truth: a kept copy serves only a
//! request that read the same version first.

use std::hash::Hash;
use std::sync::Arc;

use quick_cache::{Weighter, sync::Cache};

/// A kept value and about how many bytes it holds.
#[derive(Clone)]
struct Entry<V> {
    value: V,
    bytes: u64,
}

#[derive(Clone)]
struct ByBytes;

impl<K, V> Weighter<K, Entry<V>> for ByBytes {
    fn weight(&self, _key: &K, entry: &Entry<V>) -> u64 {
        entry.bytes
    }
}

/// Values kept per key under the version they were read at.
pub struct Versioned<K, N, V> {
    kept: Cache<K, Entry<(N, V)>, ByBytes>,
}

impl<K, N, V> Versioned<K, N, V>
where
    K: Eq + Hash + Clone,
    N: PartialOrd + Clone,
    V: Clone,
{
    /// About `items` values in at most about `budget` bytes.
    pub fn new(items: usize, budget: u64) -> Self {
        Self {
            kept: Cache::with_weighter(items, budget, ByBytes),
        }
    }

    /// The value kept for `key` if it was read at `version`.
    pub fn get(&self, key: &K, version: &N) -> Option<V> {
        self.kept
            .get(key)
            .filter(|e| e.value.0 == *version)
            .map(|e| e.value.1)
    }

    /// Keeps `value`, read after `version` was, unless a value read at a newer version is
    /// kept already.
    pub fn keep(&self, key: K, version: N, value: V, bytes: u64) {
        if self.kept.get(&key).is_some_and(|e| e.value.0 > version) {
            return;
        }
        self.kept.insert(
            key,
            Entry {
                value: (version, value),
                bytes,
            },
        );
    }
}

/// Drawings kept per key, each valid only for the very rows (`Arc::ptr_eq`) it was drawn
/// from, so it is never shown with other rows.
pub struct Drawings<K, R, D> {
    kept: Cache<K, Entry<(Arc<R>, D)>, ByBytes>,
}

impl<K, R, D> Drawings<K, R, D>
where
    K: Eq + Hash + Clone,
    D: Clone,
{
    /// About `items` drawings in at most about `budget` bytes.
    pub fn new(items: usize, budget: u64) -> Self {
        Self {
            kept: Cache::with_weighter(items, budget, ByBytes),
        }
    }

    /// The drawing of `rows` kept for `key`, else `draw`'s, kept for the next request with
    /// `bytes` (counting the rows it keeps alive) as its weight.
    pub fn get_or_draw<E>(
        &self,
        key: K,
        rows: &Arc<R>,
        draw: impl FnOnce() -> Result<(D, u64), E>,
    ) -> Result<D, E> {
        if let Some(e) = self.kept.get(&key)
            && Arc::ptr_eq(&e.value.0, rows)
        {
            return Ok(e.value.1);
        }
        let (drawing, bytes) = draw()?;
        self.kept.insert(
            key,
            Entry {
                value: (rows.clone(), drawing.clone()),
                bytes,
            },
        );
        Ok(drawing)
    }
}
