//! The content cache's index: which outputs a node holds, least recently used first out.
//!
//! The core decides hits and evictions; a live node keeps the files and deletes what the core
//! evicts, the simulator keeps nothing else.

use crate::job::ContentHash;

const NIL: u32 = u32::MAX;

#[derive(Clone, Debug)]
struct Entry {
    content: ContentHash,
    bytes: u64,
    /// Neighbours in use order (`prev` used less recently).
    prev: u32,
    next: u32,
}

/// Entries in a slab, threaded into a list in order of last use: a hit moves its entry to the
/// back in O(1) and eviction takes from the front. Contents are found through an open-addressing
/// table of slab indices keyed by the hash's first word (hashes are uniform already). The table
/// is only probed, never iterated, so nothing depends on where entries land in it.
#[derive(Clone, Debug)]
pub struct CacheIndex {
    capacity: u64,
    used: u64,
    len: usize,
    /// Slab indices (NIL = empty), linear probing; a power of two at least twice `len`.
    table: Vec<u32>,
    slots: Vec<Entry>,
    free: Vec<u32>,
    /// Least recently used entry.
    head: u32,
    /// Most recently used entry.
    tail: u32,
}

impl Default for CacheIndex {
    fn default() -> Self {
        CacheIndex::new(0)
    }
}

impl CacheIndex {
    pub fn new(capacity_bytes: u64) -> Self {
        CacheIndex {
            capacity: capacity_bytes,
            used: 0,
            len: 0,
            table: vec![NIL; 16],
            slots: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
        }
    }

    /// Looks `content` up and marks it used; returns its size on a hit.
    pub fn touch(&mut self, content: &ContentHash) -> Option<u64> {
        let slot = self.table[self.find(content)?];
        self.unlink(slot);
        self.push_back(slot);
        Some(self.slots[slot as usize].bytes)
    }

    pub fn contains(&self, content: &ContentHash) -> bool {
        self.find(content).is_some()
    }

    /// Inserts (or refreshes) an entry, evicting least recently used entries to stay within
    /// capacity; the evicted contents are appended to `evicted`. An entry larger than the whole
    /// cache is not kept.
    pub fn insert(&mut self, content: ContentHash, bytes: u64, evicted: &mut Vec<ContentHash>) {
        if let Some(pos) = self.find(&content) {
            self.remove_at(pos);
        }
        if bytes > self.capacity {
            return;
        }
        while self.used + bytes > self.capacity {
            let victim = self.head;
            if victim == NIL {
                break;
            }
            let c = self.slots[victim as usize].content;
            let pos = self.find(&c).expect("listed entries are indexed");
            self.remove_at(pos);
            evicted.push(c);
        }
        let entry = Entry {
            content,
            bytes,
            prev: NIL,
            next: NIL,
        };
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = entry;
                s
            }
            None => {
                self.slots.push(entry);
                (self.slots.len() - 1) as u32
            }
        };
        self.push_back(slot);
        if 2 * (self.len + 1) > self.table.len() {
            self.grow();
        }
        self.place(slot);
        self.len += 1;
        self.used += bytes;
    }

    pub fn used_bytes(&self) -> u64 {
        self.used
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Where `c` would start probing.
    fn home(&self, c: &ContentHash) -> usize {
        let w = u64::from_le_bytes(c.0[..8].try_into().expect("8 bytes"));
        // Fibonacci hashing: spreads even hashes that are not uniform.
        let bits = self.table.len().trailing_zeros();
        (w.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - bits)) as usize
    }

    /// The table position holding `c`.
    fn find(&self, c: &ContentHash) -> Option<usize> {
        let mask = self.table.len() - 1;
        let mut i = self.home(c);
        loop {
            let s = self.table[i];
            if s == NIL {
                return None;
            }
            if self.slots[s as usize].content == *c {
                return Some(i);
            }
            i = (i + 1) & mask;
        }
    }

    fn place(&mut self, slot: u32) {
        let mask = self.table.len() - 1;
        let mut i = self.home(&self.slots[slot as usize].content);
        while self.table[i] != NIL {
            i = (i + 1) & mask;
        }
        self.table[i] = slot;
    }

    fn grow(&mut self) {
        let size = self.table.len() * 2;
        let old = std::mem::replace(&mut self.table, vec![NIL; size]);
        for s in old.into_iter().filter(|&s| s != NIL) {
            self.place(s);
        }
    }

    /// Drops the entry at table position `pos` from the table, the use list and the slab.
    fn remove_at(&mut self, pos: usize) {
        let slot = self.table[pos];
        self.used -= self.slots[slot as usize].bytes;
        self.unlink(slot);
        self.free.push(slot);
        self.len -= 1;
        // Backward-shift deletion keeps every probe chain unbroken.
        let mask = self.table.len() - 1;
        let mut hole = pos;
        let mut j = pos;
        loop {
            j = (j + 1) & mask;
            let s = self.table[j];
            if s == NIL {
                break;
            }
            let home = self.home(&self.slots[s as usize].content);
            // The entry at `j` may fill the hole unless its home lies cyclically in (hole, j].
            let stays = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !stays {
                self.table[hole] = s;
                hole = j;
            }
        }
        self.table[hole] = NIL;
    }

    fn unlink(&mut self, slot: u32) {
        let Entry { prev, next, .. } = self.slots[slot as usize];
        match prev {
            NIL => self.head = next,
            p => self.slots[p as usize].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.slots[n as usize].prev = prev,
        }
    }

    fn push_back(&mut self, slot: u32) {
        let tail = self.tail;
        let e = &mut self.slots[slot as usize];
        e.prev = tail;
        e.next = NIL;
        match tail {
            NIL => self.head = slot,
            t => self.slots[t as usize].next = slot,
        }
        self.tail = slot;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

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

    /// The tick-ordered LRU this index replaced, as a reference.
    #[derive(Default)]
    struct Reference {
        capacity: u64,
        used: u64,
        tick: u64,
        entries: BTreeMap<ContentHash, (u64, u64)>,
        order: BTreeMap<u64, ContentHash>,
    }

    impl Reference {
        fn touch(&mut self, content: &ContentHash) -> Option<u64> {
            let (bytes, last) = self.entries.get_mut(content)?;
            self.order.remove(last);
            self.tick += 1;
            *last = self.tick;
            self.order.insert(self.tick, *content);
            Some(*bytes)
        }

        fn insert(&mut self, content: ContentHash, bytes: u64, evicted: &mut Vec<ContentHash>) {
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
    }

    #[test]
    fn behaves_like_a_tick_ordered_lru() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut rnd = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        // Contents whose first words differ, and contents that all share one (every probe
        // collides), so chains, wrap-around and deletion inside chains are exercised.
        let content_of = |k: u64| {
            let mut c = [0u8; 32];
            if k.is_multiple_of(2) {
                c[..8].copy_from_slice(&k.wrapping_mul(0xD6E8_FEB8_6659_FD93).to_le_bytes());
            }
            c[24..].copy_from_slice(&k.to_le_bytes());
            ContentHash(c)
        };
        for capacity in [0, 10, 100, 1_000, 20_000] {
            let mut c = CacheIndex::new(capacity);
            let mut r = Reference {
                capacity,
                ..Default::default()
            };
            let (mut ev_c, mut ev_r) = (Vec::new(), Vec::new());
            for _ in 0..20_000 {
                let content = content_of(rnd(if capacity > 1_000 { 600 } else { 40 }));
                if rnd(3) == 0 {
                    let bytes = if capacity > 1_000 {
                        rnd(60)
                    } else {
                        rnd(capacity.max(1) / 3 + 2)
                    };
                    c.insert(content, bytes, &mut ev_c);
                    r.insert(content, bytes, &mut ev_r);
                } else {
                    assert_eq!(c.touch(&content), r.touch(&content));
                }
                assert_eq!(ev_c, ev_r);
                assert_eq!(c.used_bytes(), r.used);
                assert_eq!(c.len(), r.entries.len());
                assert_eq!(c.contains(&content), r.entries.contains_key(&content));
            }
            if capacity > 1_000 {
                assert!(c.table.len() >= 512, "the table grew");
            }
        }
    }
}
