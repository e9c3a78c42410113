//! The event queue: a binary heap ordered by (time, insertion sequence).
//!
//! Ties in time are broken by the order events were scheduled, which makes a run a pure function
//! of its inputs. Payloads live in a slab so the heap moves only small keys.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

#[derive(Clone, Copy, PartialEq, Eq)]
struct Key {
    time: u64,
    seq: u64,
    slot: u32,
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: BinaryHeap is a max-heap and we want the earliest first.
        (other.time, other.seq).cmp(&(self.time, self.seq))
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

pub struct EventQueue<E> {
    heap: BinaryHeap<Key>,
    slots: Vec<Option<E>>,
    free: Vec<u32>,
    seq: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> {
    pub fn new() -> Self {
        EventQueue {
            heap: BinaryHeap::with_capacity(1 << 12),
            slots: Vec::with_capacity(1 << 12),
            free: Vec::new(),
            seq: 0,
        }
    }

    #[inline]
    pub fn push(&mut self, time: u64, event: E) {
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = Some(event);
                s
            }
            None => {
                self.slots.push(Some(event));
                (self.slots.len() - 1) as u32
            }
        };
        self.seq += 1;
        self.heap.push(Key {
            time,
            seq: self.seq,
            slot,
        });
    }

    #[inline]
    pub fn pop(&mut self) -> Option<(u64, E)> {
        let key = self.heap.pop()?;
        let e = self.slots[key.slot as usize]
            .take()
            .expect("a queued slot holds its event");
        self.free.push(key.slot);
        Some((key.time, e))
    }

    pub fn peek_time(&self) -> Option<u64> {
        self.heap.peek().map(|k| k.time)
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

/// Events per second of the queue alone under a hold model: `pending` events stay queued; each
/// step pops the earliest and schedules one at a pseudo-random later time. This is the engine's
/// own ceiling, without any node logic.
pub fn hold_benchmark(pending: usize, steps: u64) -> f64 {
    let mut q: EventQueue<[u64; 4]> = EventQueue::new();
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let next = |x: &mut u64| {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x % 10_000
    };
    for i in 0..pending {
        q.push(next(&mut x), [i as u64; 4]);
    }
    let started = std::time::Instant::now();
    let mut sink = 0u64;
    for _ in 0..steps {
        let (t, e) = q.pop().expect("the hold model keeps events queued");
        sink = sink.wrapping_add(e[0]);
        q.push(t + 1 + next(&mut x), e);
    }
    std::hint::black_box(sink);
    steps as f64 / started.elapsed().as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_by_time_then_by_insertion_order() {
        let mut q = EventQueue::new();
        q.push(5, "c");
        q.push(1, "a");
        q.push(5, "d");
        q.push(1, "b");
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(order, vec![(1, "a"), (1, "b"), (5, "c"), (5, "d")]);
        assert!(q.is_empty());
    }
}
