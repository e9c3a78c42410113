//! The event queue: events ordered by (time, insertion sequence).
//!
//! Ties in time are broken by the order events were scheduled, which makes a run a pure function
//! of its inputs. Times are integer milliseconds, so the queue is a timing wheel: one FIFO bucket
//! per millisecond over the next 65.536 s, found through a two-level bitmap, with a binary heap
//! for events further out that moves them into the wheel as time approaches. Push and pop are
//! O(1) for near events, which are nearly all of them (messages, transcodes, probe timers).
//! Payloads live in a slab, threaded into bucket lists, so nothing but indices moves.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

const WHEEL_BITS: u32 = 16;
const WHEEL: u64 = 1 << WHEEL_BITS;
const MASK: u64 = WHEEL - 1;
const WORDS: usize = (WHEEL / 64) as usize;
const SUMMARY: usize = WORDS / 64;
const NIL: u32 = u32::MAX;

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

struct Slot<E> {
    event: Option<E>,
    time: u64,
    next: u32,
}

pub struct EventQueue<E> {
    slots: Vec<Slot<E>>,
    free: Vec<u32>,
    head: Vec<u32>,
    tail: Vec<u32>,
    /// Bit per bucket: non-empty.
    bits: Vec<u64>,
    /// Bit per word of `bits`: non-zero.
    summary: [u64; SUMMARY],
    /// Every event in the wheel has a time in [now, now + WHEEL).
    now: u64,
    in_wheel: usize,
    /// Events at or beyond now + WHEEL when scheduled.
    far: BinaryHeap<Key>,
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
            slots: Vec::with_capacity(1 << 12),
            free: Vec::new(),
            head: vec![NIL; WHEEL as usize],
            tail: vec![NIL; WHEEL as usize],
            bits: vec![0; WORDS],
            summary: [0; SUMMARY],
            now: 0,
            in_wheel: 0,
            far: BinaryHeap::new(),
            seq: 0,
        }
    }

    #[inline]
    pub fn push(&mut self, time: u64, event: E) {
        debug_assert!(
            time >= self.now,
            "event scheduled in the past: {time} < {}",
            self.now
        );
        let time = time.max(self.now);
        let slot = self.alloc(time, event);
        if time < self.now + WHEEL {
            self.append(slot);
        } else {
            self.seq += 1;
            self.far.push(Key {
                time,
                seq: self.seq,
                slot,
            });
        }
    }

    #[inline]
    pub fn pop(&mut self) -> Option<(u64, E)> {
        if self.in_wheel == 0 {
            let first = self.far.peek()?.time;
            self.now = first;
            self.pull_near();
        }
        let b = self.next_bucket();
        let d = (b as u64).wrapping_sub(self.now & MASK) & MASK;
        if d > 0 {
            self.now += d;
            self.pull_near();
        }
        let slot = self.head[b];
        let s = &mut self.slots[slot as usize];
        let e = s.event.take().expect("a queued slot holds its event");
        let time = s.time;
        self.head[b] = s.next;
        if s.next == NIL {
            self.tail[b] = NIL;
            self.clear_bit(b);
        }
        self.in_wheel -= 1;
        self.free.push(slot);
        Some((time, e))
    }

    pub fn peek_time(&self) -> Option<u64> {
        if self.in_wheel == 0 {
            return self.far.peek().map(|k| k.time);
        }
        let b = self.next_bucket();
        Some(self.now + ((b as u64).wrapping_sub(self.now & MASK) & MASK))
    }

    pub fn len(&self) -> usize {
        self.in_wheel + self.far.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn alloc(&mut self, time: u64, event: E) -> u32 {
        let slot = Slot {
            event: Some(event),
            time,
            next: NIL,
        };
        match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = slot;
                i
            }
            None => {
                self.slots.push(slot);
                (self.slots.len() - 1) as u32
            }
        }
    }

    /// Appends a slot to its bucket's FIFO (the bucket of its time).
    fn append(&mut self, slot: u32) {
        let b = (self.slots[slot as usize].time & MASK) as usize;
        self.slots[slot as usize].next = NIL;
        if self.tail[b] == NIL {
            self.head[b] = slot;
            self.set_bit(b);
        } else {
            let t = self.tail[b];
            self.slots[t as usize].next = slot;
        }
        self.tail[b] = slot;
        self.in_wheel += 1;
    }

    /// Moves far events that are now within the wheel's horizon into it, earliest first, so
    /// that they precede anything scheduled directly for the same millisecond later on.
    fn pull_near(&mut self) {
        while let Some(k) = self.far.peek() {
            if k.time >= self.now + WHEEL {
                break;
            }
            let k = self.far.pop().expect("peeked");
            self.append(k.slot);
        }
    }

    fn set_bit(&mut self, b: usize) {
        self.bits[b / 64] |= 1 << (b % 64);
        self.summary[b / 4096] |= 1 << ((b / 64) % 64);
    }

    fn clear_bit(&mut self, b: usize) {
        let w = b / 64;
        self.bits[w] &= !(1 << (b % 64));
        if self.bits[w] == 0 {
            self.summary[w / 64] &= !(1 << (w % 64));
        }
    }

    /// The first non-empty bucket at or after `now`, going round the wheel once.
    fn next_bucket(&self) -> usize {
        let start = (self.now & MASK) as usize;
        self.find_from(start)
            .or_else(|| self.find_from(0))
            .expect("the wheel holds an event")
    }

    fn find_from(&self, b: usize) -> Option<usize> {
        let w = b / 64;
        let m = self.bits[w] & (!0u64 << (b % 64));
        if m != 0 {
            return Some(w * 64 + m.trailing_zeros() as usize);
        }
        let w = w + 1;
        if w >= WORDS {
            return None;
        }
        let mut s = w / 64;
        let mut mask = self.summary[s] & (!0u64 << (w % 64));
        loop {
            if mask != 0 {
                let word = s * 64 + mask.trailing_zeros() as usize;
                return Some(word * 64 + self.bits[word].trailing_zeros() as usize);
            }
            s += 1;
            if s >= SUMMARY {
                return None;
            }
            mask = self.summary[s];
        }
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

    /// The wheel against a plain (time, seq) heap, over interleaved pushes and pops with times
    /// from the same millisecond to far beyond the wheel's horizon.
    #[test]
    fn matches_a_reference_heap_at_every_horizon() {
        use std::cmp::Reverse;
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut rnd = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let mut q = EventQueue::new();
        let mut reference = BinaryHeap::new();
        let (mut now, mut seq) = (0u64, 0u64);
        for step in 0..200_000u64 {
            if rnd(3) > 0 || reference.is_empty() {
                let dt = match rnd(4) {
                    0 => 0,
                    1 => rnd(100),
                    2 => rnd(70_000),
                    _ => rnd(400_000),
                };
                seq += 1;
                q.push(now + dt, step);
                reference.push(Reverse((now + dt, seq, step)));
            } else {
                let Reverse((t, _, e)) = reference.pop().unwrap();
                assert_eq!(q.peek_time(), Some(t));
                assert_eq!(q.pop(), Some((t, e)), "step {step}");
                now = t;
            }
            assert_eq!(q.len(), reference.len());
        }
        while let Some(Reverse((t, _, e))) = reference.pop() {
            assert_eq!(q.pop(), Some((t, e)));
        }
        assert!(q.is_empty() && q.pop().is_none());
    }
}
