//! The content cache's index: which outputs a node holds, least recently used first out.
//!
//! The core decides hits and evictions; a live node keeps the files and deletes what the core
//! evicts, the simulator keeps nothing else.

use std::collections::BTreeMap;

use crate::job::ContentHash;

#[derive(Clone, Debug, Default)]
pub struct CacheIndex {
    capacity: u64,
    used: u64,
    tick: u64,
    entries: BTreeMap<ContentHash, (u64, u64)>, // content -> (bytes, last use tick)
    order: BTreeMap<u64, ContentHash>,          // last use tick -> content
}

impl CacheIndex {
    pub fn new(capacity_bytes: u64) -> Self {
        CacheIndex {
            capacity: capacity_bytes,
            ..Default::default()
        }
    }

    /// Looks `content` up and marks it used; returns its size on a hit.
    pub fn touch(&mut self, content: &ContentHash) -> Option<u64> {
        let (bytes, last) = self.entries.get_mut(content)?;
        self.order.remove(last);
        self.tick += 1;
        *last = self.tick;
        self.order.insert(self.tick, *content);
        Some(*bytes)
    }

    pub fn contains(&self, content: &ContentHash) -> bool {
        self.entries.contains_key(content)
    }

    /// Inserts (or refreshes) an entry, evicting least recently used entries to stay within
    /// capacity; the evicted contents are appended to `evicted`. An entry larger than the whole
    /// cache is not kept.
    pub fn insert(&mut self, content: ContentHash, bytes: u64, evicted: &mut Vec<ContentHash>) {
        if let Some((old, last)) = self.entries.remove(&content) {
            self.order.remove(&last);
            self.used -= old;
        }
        if bytes > self.capacity {
            return;
        }
        while self.used + bytes > self.capacity {
            let Some((_, victim)) = self.order.pop_first() else {
                break;
            };
            if let Some((b, _)) = self.entries.remove(&victim) {
                self.used -= b;
            }
            evicted.push(victim);
        }
        self.tick += 1;
        self.entries.insert(content, (bytes, self.tick));
        self.order.insert(self.tick, content);
        self.used += bytes;
    }

    pub fn used_bytes(&self) -> u64 {
        self.used
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(b: u8) -> ContentHash {
        ContentHash([b; 32])
    }

    #[test]
    fn evicts_least_recently_used_first() {
        let mut c = CacheIndex::new(100);
        let mut ev = Vec::new();
        c.insert(h(1), 40, &mut ev);
        c.insert(h(2), 40, &mut ev);
        assert_eq!(c.touch(&h(1)), Some(40)); // 2 is now the oldest
        c.insert(h(3), 40, &mut ev);
        assert_eq!(ev, vec![h(2)]);
        assert!(c.contains(&h(1)) && c.contains(&h(3)) && !c.contains(&h(2)));
        assert_eq!(c.used_bytes(), 80);
    }

    #[test]
    fn an_entry_larger_than_the_cache_is_not_kept() {
        let mut c = CacheIndex::new(10);
        let mut ev = Vec::new();
        c.insert(h(1), 5, &mut ev);
        c.insert(h(2), 11, &mut ev);
        assert!(ev.is_empty());
        assert!(c.contains(&h(1)) && !c.contains(&h(2)));
    }
}
