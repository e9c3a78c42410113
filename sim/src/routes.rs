//! Where each job id the engine handed to a node came from, so that its answer goes back there:
//! the client's connection for an upload, the origin's offload for an offloaded job.

use std::collections::VecDeque;

use vidmesh_core::JobId;

#[derive(Clone, Copy, Debug)]
pub(crate) enum RouteKind {
    /// A client upload; the answer goes back to the client.
    Client { attempt: u8 },
    /// An offloaded job; the answer goes back to `origin`'s job `origin_job`.
    Remote {
        origin: u32,
        origin_life: u32,
        origin_job: JobId,
    },
}

/// Where a job id the driver handed to a node came from.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Route {
    pub node: u32,
    pub req: u32,
    pub kind: RouteKind,
}

/// Routes by job id. The driver issues ids in increasing order and a route lives from its job's
/// arrival to its answer, so the live ones fit a sliding window: a deque indexed by id − base.
#[derive(Default)]
pub(crate) struct RouteTable {
    base: u64,
    slots: VecDeque<Option<Route>>,
}

impl RouteTable {
    pub fn insert(&mut self, id: u64, route: Route) {
        if self.slots.is_empty() {
            self.base = id;
        }
        while id < self.base {
            self.slots.push_front(None);
            self.base -= 1;
        }
        let k = (id - self.base) as usize;
        if k == self.slots.len() {
            self.slots.push_back(Some(route)); // the usual case: the newest id
            return;
        }
        if k > self.slots.len() {
            self.slots.resize(k + 1, None);
        }
        self.slots[k] = Some(route);
    }

    pub fn get(&self, id: u64) -> Option<&Route> {
        let k = usize::try_from(id.checked_sub(self.base)?).ok()?;
        self.slots.get(k)?.as_ref()
    }

    pub fn remove(&mut self, id: u64) -> Option<Route> {
        let k = usize::try_from(id.checked_sub(self.base)?).ok()?;
        let route = self.slots.get_mut(k)?.take()?;
        while let Some(None) = self.slots.front() {
            self.slots.pop_front();
            self.base += 1;
        }
        Some(route)
    }

    /// Live routes in id order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, Route)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(k, r)| r.map(|r| (self.base + k as u64, r)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// The window against a map, with ids issued in increasing order and routes ending in any
    /// order, plus the odd id below the window.
    #[test]
    fn route_table_behaves_like_a_map() {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut rnd = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let mut t = RouteTable::default();
        let mut m = BTreeMap::new();
        let mut next = 1u64;
        for step in 0..100_000u32 {
            let route = Route {
                node: step % 7,
                req: step,
                kind: RouteKind::Client { attempt: 1 },
            };
            match rnd(10) {
                0..=3 => {
                    t.insert(next, route);
                    m.insert(next, route);
                    next += 1 + rnd(3);
                }
                4 => {
                    let id = rnd(next + 5);
                    t.insert(id, route);
                    m.insert(id, route);
                }
                _ => {
                    let id = rnd(next + 5);
                    assert_eq!(t.get(id).map(|r| r.req), m.get(&id).map(|r| r.req));
                    assert_eq!(t.remove(id).map(|r| r.req), m.remove(&id).map(|r| r.req));
                }
            }
            if step % 1000 == 0 {
                let a: Vec<(u64, u32)> = t.iter().map(|(k, r)| (k, r.req)).collect();
                let b: Vec<(u64, u32)> = m.iter().map(|(k, r)| (*k, r.req)).collect();
                assert_eq!(a, b);
            }
        }
    }
}
