//! The observer's memory: every node it has heard of (from a seed or from any node's peer
//! list), the rolling history of per-second samples, and the timeline of faults and
//! recoveries. Pure: a scrape round goes in with its time, a snapshot comes out.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::Serialize;
use vidmesh_node::status::{CounterStatus, Status};

use crate::client::{self, ClientRaw, ClientTotals, ClientWindow};
use crate::error::ScrapeError;

/// Rates (jobs/s, messages/s) are averaged over this much history, so that a 1 s scrape does not
/// turn every burst into a spike.
pub const RATE_WINDOW_MS: u64 = 5_000;
/// The client's success %, goodput and percentiles are over this trailing window.
pub const CLIENT_WINDOW_MS: u64 = 10_000;
/// A peer membership calls alive whose load report is older than this is shown as stale.
pub const STALE_REPORT_MS: u64 = 15_000;
/// Membership events about one node within this long of each other are shown as one line.
const MERGE_EVENTS_MS: u64 = 20_000;
const MAX_EVENTS: usize = 1_000;

/// What one scrape round found.
#[derive(Debug, Default)]
pub struct Round {
    /// Unix ms when the round started.
    pub t_ms: u64,
    /// Every address asked, with its `/status` or why there was none.
    pub results: Vec<(String, Result<Status, ScrapeError>)>,
    /// The load client's counters, if a client address is configured.
    pub client: Option<Result<ClientRaw, ScrapeError>>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Event {
    pub seq: u64,
    pub t_ms: u64,
    /// `discovered`, `unreachable`, `reachable`, `restarted`, `member_down`, `member_up`,
    /// `client_unreachable`, `client_reachable`.
    pub kind: String,
    pub node: String,
    /// For membership events: the nodes whose membership reported it, in the order they did.
    pub by: Vec<String>,
    /// Last time this event was extended (a membership event gathers several reporters).
    pub last_ms: u64,
    pub detail: String,
}

/// Per node, per round.
#[derive(Clone, Debug, Default, Serialize)]
pub struct NodeTick {
    pub up: bool,
    pub cpu_pct: Option<f32>,
    pub mem_pct: Option<f32>,
    pub queue_len: Option<u32>,
    pub in_flight: Option<u32>,
    pub offloads_pending: Option<u32>,
    pub alive_peers: Option<usize>,
    /// Per-second rates over [`RATE_WINDOW_MS`].
    pub jobs_per_s: Option<f64>,
    pub cache_hits_per_s: Option<f64>,
    pub uploads_per_s: Option<f64>,
    pub rejected_per_s: Option<f64>,
    pub offloads_same_per_s: Option<f64>,
    pub offloads_cross_per_s: Option<f64>,
    pub responses_same_per_s: Option<f64>,
    pub responses_cross_per_s: Option<f64>,
    pub messages_in_per_s: Option<f64>,
    pub messages_out_per_s: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Tick {
    pub seq: u64,
    pub t_ms: u64,
    /// By node name.
    pub nodes: BTreeMap<String, NodeTick>,
    /// None when no client is configured or it did not answer.
    pub client: Option<ClientTick>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ClientTick {
    pub in_flight: u64,
    #[serde(flatten)]
    pub window: Option<ClientWindow>,
}

#[derive(Clone, Debug)]
struct NodeEntry {
    name: String,
    id: u32,
    zone: String,
    /// Where it is scraped: its advertised address.
    addr: String,
    status: Option<Status>,
    reachable: bool,
    /// When `reachable` last changed (or the node was discovered).
    since_ms: u64,
    last_ok_ms: Option<u64>,
    error: Option<String>,
    /// Recent counters for rates: (unix ms, life, counters).
    recent: VecDeque<(u64, u32, CounterStatus)>,
}

#[derive(Clone, Debug, Default)]
struct ClientEntry {
    reachable: Option<bool>,
    error: Option<String>,
    last: Option<ClientRaw>,
    recent: VecDeque<(u64, ClientRaw)>,
}

pub struct Store {
    pub started_ms: u64,
    pub interval_ms: u64,
    capacity: usize,
    seeds: Vec<String>,
    client_addr: Option<String>,
    seq: u64,
    ticks: VecDeque<Tick>,
    nodes: BTreeMap<String, NodeEntry>,
    seed_errors: BTreeMap<String, String>,
    client: ClientEntry,
    events: VecDeque<Event>,
    event_seq: u64,
}

/// What `/api/snapshot` returns.
#[derive(Clone, Debug, Serialize)]
pub struct Snapshot {
    pub now_ms: u64,
    pub started_ms: u64,
    pub interval_ms: u64,
    pub history_s: u64,
    pub rate_window_s: f64,
    pub client_window_s: f64,
    pub stale_report_s: f64,
    /// Highest tick sequence number held.
    pub seq: u64,
    pub seeds: Vec<SeedInfo>,
    pub client: ClientInfo,
    /// Zone codes in the order of their lowest node id.
    pub zones: Vec<String>,
    pub nodes: Vec<NodeInfo>,
    pub views: Vec<ViewRow>,
    /// Ticks after the `since` the snapshot was asked for.
    pub ticks: Vec<Tick>,
    /// Newest last.
    pub events: Vec<Event>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SeedInfo {
    pub addr: String,
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ClientInfo {
    pub addr: Option<String>,
    pub reachable: Option<bool>,
    pub error: Option<String>,
    pub totals: Option<ClientTotals>,
}

#[derive(Clone, Debug, Serialize)]
pub struct NodeInfo {
    pub name: String,
    pub id: u32,
    pub zone: String,
    pub addr: String,
    /// `up`, `unreachable` or `unseen` (known from peers, never answered the observer).
    pub state: String,
    pub since_ms: u64,
    pub last_ok_ms: Option<u64>,
    pub error: Option<String>,
    /// The last `/status` the node gave (stale when it is unreachable).
    pub status: Option<NodeStatusInfo>,
    /// How many reachable nodes' membership calls this node alive / down.
    pub seen_alive_by: usize,
    pub seen_down_by: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct NodeStatusInfo {
    pub gen: u32,
    pub strategy: String,
    pub uptime_ms: u64,
    pub workers: u32,
    pub queue_cap: u32,
    pub queue_len: u32,
    pub in_flight: u32,
    pub offloads_pending: u32,
    pub cpu_pct: f32,
    pub mem_pct: f32,
    pub cache_entries: usize,
    pub cache_bytes: u64,
    pub alive_peers: usize,
    pub known_peers: usize,
    pub counters: CounterStatus,
}

/// One node's view of the others.
#[derive(Clone, Debug, Serialize)]
pub struct ViewRow {
    pub viewer: String,
    /// False when the viewer did not answer: its cells are its last known view, greyed.
    pub current: bool,
    pub cells: Vec<ViewCell>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ViewCell {
    pub peer: String,
    /// `alive`, `stale` (alive, but no fresh load report), `down`, or `unknown` (never heard of).
    pub state: String,
    pub since_ms: Option<u64>,
    pub report_age_ms: Option<u64>,
}

impl Store {
    pub fn new(
        seeds: Vec<String>,
        client_addr: Option<String>,
        interval_ms: u64,
        history_ms: u64,
        now_ms: u64,
    ) -> Store {
        let interval_ms = interval_ms.max(1);
        Store {
            started_ms: now_ms,
            interval_ms,
            capacity: (history_ms / interval_ms).max(2) as usize,
            seeds,
            client_addr,
            seq: 0,
            ticks: VecDeque::new(),
            nodes: BTreeMap::new(),
            seed_errors: BTreeMap::new(),
            client: ClientEntry::default(),
            events: VecDeque::new(),
            event_seq: 0,
        }
    }

    /// Addresses to ask next round: the seeds and every known node, without repeats, sorted.
    pub fn targets(&self) -> Vec<String> {
        let set: BTreeSet<String> = self
            .seeds
            .iter()
            .cloned()
            .chain(self.nodes.values().map(|n| n.addr.clone()))
            .collect();
        set.into_iter().collect()
    }

    pub fn client_addr(&self) -> Option<&str> {
        self.client_addr.as_deref()
    }

    fn event(&mut self, t_ms: u64, kind: &str, node: &str, detail: String) {
        self.event_seq += 1;
        self.events.push_back(Event {
            seq: self.event_seq,
            t_ms,
            kind: kind.into(),
            node: node.into(),
            by: Vec::new(),
            last_ms: t_ms,
            detail,
        });
        while self.events.len() > MAX_EVENTS {
            self.events.pop_front();
        }
    }

    /// A membership change reported by `viewer`: joins the recent event about the same node and
    /// change if there is one, so "node3 down" reads as one line with its reporters.
    fn membership_event(&mut self, t_ms: u64, kind: &str, node: &str, viewer: &str) {
        let open =
            self.events.iter_mut().rev().find(|e| {
                e.kind == kind && e.node == node && t_ms.abs_diff(e.t_ms) <= MERGE_EVENTS_MS
            });
        if let Some(e) = open {
            if !e.by.iter().any(|b| b == viewer) {
                e.by.push(viewer.to_string());
                e.last_ms = e.last_ms.max(t_ms);
                e.t_ms = e.t_ms.min(t_ms);
            }
            return;
        }
        // How long after the observer lost (or regained) the node its peers noticed.
        let lead = if kind == "member_down" {
            "unreachable"
        } else {
            "reachable"
        };
        let detail = self
            .events
            .iter()
            .rev()
            .find(|e| {
                e.kind == lead
                    && e.node == node
                    && e.t_ms <= t_ms + 1_000
                    && t_ms - e.t_ms.min(t_ms) <= 60_000
            })
            .map(|e| {
                format!(
                    "{:.1} s after the observer saw it {}",
                    t_ms.saturating_sub(e.t_ms) as f64 / 1000.0,
                    if kind == "member_down" {
                        "stop answering"
                    } else {
                        "answer again"
                    }
                )
            })
            .unwrap_or_default();
        self.event(t_ms, kind, node, detail);
        if let Some(e) = self.events.back_mut() {
            e.by.push(viewer.to_string());
        }
    }

    /// Takes in one scrape round.
    pub fn ingest(&mut self, round: Round) {
        let t = round.t_ms;
        // Answers by node name (the first answer wins if a node answered at two addresses).
        let mut answered: BTreeMap<String, Status> = BTreeMap::new();
        let mut failed: BTreeMap<String, String> = BTreeMap::new();
        for (addr, r) in round.results {
            match r {
                Ok(s) => {
                    self.seed_errors.remove(&addr);
                    answered.entry(s.name.clone()).or_insert(s);
                }
                Err(e) => {
                    if self.seeds.contains(&addr) {
                        self.seed_errors.insert(addr.clone(), e.to_string());
                    }
                    failed.insert(addr, e.to_string());
                }
            }
        }
        // Nodes named in peer lists that the observer does not know yet.
        let mut learned: BTreeMap<String, (u32, String, String)> = BTreeMap::new();
        for s in answered.values() {
            for p in &s.peers {
                if !self.nodes.contains_key(&p.name) && !answered.contains_key(&p.name) {
                    learned
                        .entry(p.name.clone())
                        .or_insert((p.id, p.zone.clone(), p.addr.clone()));
                }
            }
        }
        for (name, s) in &answered {
            if !self.nodes.contains_key(name) {
                self.nodes.insert(
                    name.clone(),
                    NodeEntry {
                        name: name.clone(),
                        id: s.id,
                        zone: s.zone.clone(),
                        addr: s.addr.clone(),
                        status: None,
                        reachable: false,
                        since_ms: t,
                        last_ok_ms: None,
                        error: None,
                        recent: VecDeque::new(),
                    },
                );
                self.event(t, "discovered", name, format!("{} in {}", s.addr, s.zone));
            }
        }
        for (name, (id, zone, addr)) in learned {
            self.event(
                t,
                "discovered",
                &name,
                format!("{addr} in {zone}, from a peer's membership"),
            );
            self.nodes.insert(
                name.clone(),
                NodeEntry {
                    name,
                    id,
                    zone,
                    addr,
                    status: None,
                    reachable: false,
                    since_ms: t,
                    last_ok_ms: None,
                    error: Some("not asked yet".into()),
                    recent: VecDeque::new(),
                },
            );
        }

        let names: Vec<String> = self.nodes.keys().cloned().collect();
        let mut tick_nodes = BTreeMap::new();
        for name in names {
            let new_status = answered.remove(&name);
            match new_status {
                Some(s) => {
                    let tick = self.node_answered(t, &name, s);
                    tick_nodes.insert(name, tick);
                }
                None => {
                    let addr = self.nodes[&name].addr.clone();
                    let asked = failed.get(&addr).cloned();
                    // A node learned of this round was not asked yet: no sample for it.
                    if asked.is_some() || self.nodes[&name].last_ok_ms.is_some() {
                        tick_nodes.insert(name.clone(), NodeTick::default());
                    }
                    self.node_silent(t, &name, asked.unwrap_or_else(|| "not asked yet".into()));
                }
            }
        }

        let client = self.ingest_client(t, round.client);
        self.seq += 1;
        self.ticks.push_back(Tick {
            seq: self.seq,
            t_ms: t,
            nodes: tick_nodes,
            client,
        });
        while self.ticks.len() > self.capacity {
            self.ticks.pop_front();
        }
    }

    fn node_answered(&mut self, t: u64, name: &str, s: Status) -> NodeTick {
        // Membership changes this node's view shows since its previous answer.
        let prev_view: Option<BTreeMap<String, String>> =
            self.nodes[name].status.as_ref().map(|p| {
                p.peers
                    .iter()
                    .map(|x| (x.name.clone(), x.state.clone()))
                    .collect()
            });
        for p in &s.peers {
            let before = prev_view.as_ref().map(|v| v.get(&p.name));
            let changed = match before {
                // First answer: only a peer already down is news.
                None => p.state == "down",
                Some(None) => true,
                Some(Some(old)) => *old != p.state,
            };
            if changed {
                let kind = if p.state == "down" {
                    "member_down"
                } else {
                    "member_up"
                };
                let at = if p.since_unix_ms > 0 {
                    p.since_unix_ms
                } else {
                    t
                };
                self.membership_event(at, kind, &p.name, name);
            }
        }

        let e = self.nodes.get_mut(name).expect("known node");
        let mut events: Vec<(&str, String)> = Vec::new();
        if !e.reachable {
            if e.last_ok_ms.is_some() {
                events.push((
                    "reachable",
                    format!(
                        "answers again after {:.1} s",
                        t.saturating_sub(e.since_ms) as f64 / 1000.0
                    ),
                ));
            }
            e.reachable = true;
            e.since_ms = t;
        }
        if let Some(old) = &e.status {
            if old.gen != s.gen || s.uptime_ms < old.uptime_ms {
                events.push(("restarted", format!("life {} → {}", old.gen, s.gen)));
                e.recent.clear();
            }
        }
        e.last_ok_ms = Some(t);
        e.error = None;
        e.id = s.id;
        e.zone = s.zone.clone();
        if !s.addr.is_empty() {
            e.addr = s.addr.clone();
        }
        e.recent.push_back((t, s.gen, s.counters.clone()));
        while e
            .recent
            .front()
            .is_some_and(|(t0, _, _)| t.saturating_sub(*t0) > RATE_WINDOW_MS + 1_500)
        {
            e.recent.pop_front();
        }
        let tick = node_tick(&s, &e.recent);
        e.status = Some(s);
        for (kind, detail) in events {
            self.event(t, kind, name, detail);
        }
        tick
    }

    fn node_silent(&mut self, t: u64, name: &str, why: String) {
        let e = self.nodes.get_mut(name).expect("known node");
        e.error = Some(why.clone());
        if e.reachable {
            e.reachable = false;
            e.since_ms = t;
            e.recent.clear();
            self.event(t, "unreachable", name, why);
        }
    }

    fn ingest_client(
        &mut self,
        t: u64,
        r: Option<Result<ClientRaw, ScrapeError>>,
    ) -> Option<ClientTick> {
        let r = r?;
        let was = self.client.reachable;
        match r {
            Err(e) => {
                self.client.error = Some(e.to_string());
                self.client.reachable = Some(false);
                self.client.recent.clear();
                if was == Some(true) {
                    self.event(t, "client_unreachable", "client", e.to_string());
                }
                None
            }
            Ok(raw) => {
                self.client.error = None;
                self.client.reachable = Some(true);
                if was == Some(false) {
                    self.event(t, "client_reachable", "client", String::new());
                }
                if self
                    .client
                    .recent
                    .back()
                    .is_some_and(|(_, last)| last.reset_before(&raw))
                {
                    self.client.recent.clear();
                }
                self.client.recent.push_back((t, raw.clone()));
                while self
                    .client
                    .recent
                    .front()
                    .is_some_and(|(t0, _)| t.saturating_sub(*t0) > CLIENT_WINDOW_MS)
                {
                    self.client.recent.pop_front();
                }
                let window = match self.client.recent.front() {
                    Some((t0, old)) if t > *t0 + 500 => {
                        Some(client::window(old, &raw, (t - t0) as f64 / 1000.0))
                    }
                    _ => None,
                };
                let tick = ClientTick {
                    in_flight: raw.in_flight,
                    window,
                };
                self.client.last = Some(raw);
                Some(tick)
            }
        }
    }

    /// Everything the dashboard shows, with the ticks after `since`.
    pub fn snapshot(&self, now_ms: u64, since: u64) -> Snapshot {
        let mut zone_first: BTreeMap<String, u32> = BTreeMap::new();
        for n in self.nodes.values() {
            let e = zone_first.entry(n.zone.clone()).or_insert(n.id);
            *e = (*e).min(n.id);
        }
        let mut zones: Vec<(u32, String)> = zone_first.into_iter().map(|(z, i)| (i, z)).collect();
        zones.sort();

        let mut ordered: Vec<&NodeEntry> = self.nodes.values().collect();
        ordered.sort_by(|a, b| (a.id, &a.name).cmp(&(b.id, &b.name)));

        let views: Vec<ViewRow> = ordered
            .iter()
            .filter_map(|v| {
                let s = v.status.as_ref()?;
                let cells = ordered
                    .iter()
                    .filter(|p| p.name != v.name)
                    .map(|p| match s.peers.iter().find(|x| x.name == p.name) {
                        None => ViewCell {
                            peer: p.name.clone(),
                            state: "unknown".into(),
                            since_ms: None,
                            report_age_ms: None,
                        },
                        Some(x) => {
                            let stale = x.state == "alive"
                                && x.report_age_ms.is_none_or(|a| a > STALE_REPORT_MS);
                            ViewCell {
                                peer: p.name.clone(),
                                state: if stale {
                                    "stale".into()
                                } else {
                                    x.state.clone()
                                },
                                since_ms: Some(x.since_unix_ms),
                                report_age_ms: x.report_age_ms,
                            }
                        }
                    })
                    .collect();
                Some(ViewRow {
                    viewer: v.name.clone(),
                    current: v.reachable,
                    cells,
                })
            })
            .collect();

        let nodes = ordered
            .iter()
            .map(|n| {
                let (alive_by, down_by) = views
                    .iter()
                    .filter(|r| r.current)
                    .flat_map(|r| r.cells.iter().filter(|c| c.peer == n.name))
                    .fold((0, 0), |(a, d), c| match c.state.as_str() {
                        "alive" | "stale" => (a + 1, d),
                        "down" => (a, d + 1),
                        _ => (a, d),
                    });
                NodeInfo {
                    name: n.name.clone(),
                    id: n.id,
                    zone: n.zone.clone(),
                    addr: n.addr.clone(),
                    state: if n.reachable {
                        "up"
                    } else if n.last_ok_ms.is_some() {
                        "unreachable"
                    } else {
                        "unseen"
                    }
                    .into(),
                    since_ms: n.since_ms,
                    last_ok_ms: n.last_ok_ms,
                    error: n.error.clone(),
                    status: n.status.as_ref().map(|s| NodeStatusInfo {
                        gen: s.gen,
                        strategy: strategy_label(&s.strategy),
                        uptime_ms: s.uptime_ms,
                        workers: s.workers,
                        queue_cap: s.queue_cap,
                        queue_len: s.queue_len,
                        in_flight: s.in_flight,
                        offloads_pending: s.offloads_pending,
                        cpu_pct: s.cpu_pct,
                        mem_pct: s.mem_pct,
                        cache_entries: s.cache_entries,
                        cache_bytes: s.cache_bytes,
                        alive_peers: s.alive_peers,
                        known_peers: s.peers.len(),
                        counters: s.counters.clone(),
                    }),
                    seen_alive_by: alive_by,
                    seen_down_by: down_by,
                }
            })
            .collect();

        Snapshot {
            now_ms,
            started_ms: self.started_ms,
            interval_ms: self.interval_ms,
            history_s: self.capacity as u64 * self.interval_ms / 1000,
            rate_window_s: RATE_WINDOW_MS as f64 / 1000.0,
            client_window_s: CLIENT_WINDOW_MS as f64 / 1000.0,
            stale_report_s: STALE_REPORT_MS as f64 / 1000.0,
            seq: self.seq,
            seeds: self
                .seeds
                .iter()
                .map(|a| SeedInfo {
                    addr: a.clone(),
                    error: self.seed_errors.get(a).cloned(),
                })
                .collect(),
            client: ClientInfo {
                addr: self.client_addr.clone(),
                reachable: self.client.reachable,
                error: self.client.error.clone(),
                totals: self.client.last.as_ref().map(ClientTotals::of),
            },
            zones: zones.into_iter().map(|(_, z)| z).collect(),
            nodes,
            views,
            ticks: self
                .ticks
                .iter()
                .filter(|t| t.seq > since)
                .cloned()
                .collect(),
            events: self.events.iter().cloned().collect(),
        }
    }
}

fn strategy_label(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Object(m) => {
            let kind = m.get("kind").and_then(|k| k.as_str()).unwrap_or("?");
            let mut params: Vec<String> = m
                .iter()
                .filter(|(k, v)| k.as_str() != "kind" && !v.is_null())
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            params.sort();
            if params.is_empty() {
                kind.to_string()
            } else {
                format!("{kind} ({})", params.join(", "))
            }
        }
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn node_tick(s: &Status, recent: &VecDeque<(u64, u32, CounterStatus)>) -> NodeTick {
    let mut tick = NodeTick {
        up: true,
        cpu_pct: Some(s.cpu_pct),
        mem_pct: Some(s.mem_pct),
        queue_len: Some(s.queue_len),
        in_flight: Some(s.in_flight),
        offloads_pending: Some(s.offloads_pending),
        alive_peers: Some(s.alive_peers),
        ..NodeTick::default()
    };
    let (Some((t0, _, c0)), Some((t1, _, c1))) = (recent.front(), recent.back()) else {
        return tick;
    };
    let (c0, c1) = (&c0.core, &c1.core);
    let dt = t1.saturating_sub(*t0) as f64 / 1000.0;
    if dt < 0.5 {
        return tick;
    }
    let rate = |a: u64, b: u64| (b >= a).then(|| (b - a) as f64 / dt);
    tick.jobs_per_s = rate(c0.transcodes_ok, c1.transcodes_ok);
    tick.cache_hits_per_s = rate(c0.cache_hits, c1.cache_hits);
    tick.uploads_per_s = rate(c0.uploads, c1.uploads);
    tick.rejected_per_s = rate(c0.rejected, c1.rejected);
    tick.offloads_same_per_s = rate(c0.offloads_same_zone, c1.offloads_same_zone);
    tick.offloads_cross_per_s = rate(c0.offloads_cross_zone, c1.offloads_cross_zone);
    tick.responses_same_per_s = rate(c0.responses_same_zone, c1.responses_same_zone);
    tick.responses_cross_per_s = rate(c0.responses_cross_zone, c1.responses_cross_zone);
    tick.messages_in_per_s = rate(c0.messages_in, c1.messages_in);
    tick.messages_out_per_s = rate(c0.messages_out, c1.messages_out);
    tick
}

#[cfg(test)]
mod tests {
    use super::*;
    use vidmesh_node::status::PeerStatus;

    fn status(name: &str, id: u32, zone: &str, peers: &[(&str, u32, &str, u64)]) -> Status {
        Status {
            name: name.into(),
            id,
            zone: zone.into(),
            addr: format!("127.0.0.1:{}", 7000 + id),
            gen: 1,
            uptime_ms: 1_000,
            peers: peers
                .iter()
                .map(|(n, i, st, since)| PeerStatus {
                    name: (*n).into(),
                    id: *i,
                    zone: "FRA".into(),
                    addr: format!("127.0.0.1:{}", 7000 + i),
                    state: (*st).into(),
                    since_unix_ms: *since,
                    report_age_ms: Some(100),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    fn ok(s: Status) -> (String, Result<Status, ScrapeError>) {
        (s.addr.clone(), Ok(s))
    }

    #[test]
    fn finds_nodes_through_peer_lists_and_records_a_crash() {
        let mut st = Store::new(vec!["127.0.0.1:7001".into()], None, 1_000, 60_000, 0);
        st.ingest(Round {
            t_ms: 1_000,
            results: vec![ok(status("node1", 1, "FRA", &[("node2", 2, "alive", 500)]))],
            client: None,
        });
        // node2 is known from node1's peer list and is asked next round.
        assert_eq!(st.targets(), vec!["127.0.0.1:7001", "127.0.0.1:7002"]);
        st.ingest(Round {
            t_ms: 2_000,
            results: vec![
                ok(status("node1", 1, "FRA", &[("node2", 2, "alive", 500)])),
                ok(status("node2", 2, "IAD", &[("node1", 1, "alive", 500)])),
            ],
            client: None,
        });
        let snap = st.snapshot(2_000, 0);
        assert_eq!(snap.nodes.len(), 2);
        assert!(snap.nodes.iter().all(|n| n.state == "up"));
        assert_eq!(snap.zones, vec!["FRA", "IAD"]);
        // node2 stops answering; node1's membership declares it down 3 s later.
        st.ingest(Round {
            t_ms: 3_000,
            results: vec![
                ok(status("node1", 1, "FRA", &[("node2", 2, "alive", 500)])),
                ("127.0.0.1:7002".into(), Err(ScrapeError::Unreachable)),
            ],
            client: None,
        });
        st.ingest(Round {
            t_ms: 6_500,
            results: vec![
                ok(status("node1", 1, "FRA", &[("node2", 2, "down", 6_000)])),
                ("127.0.0.1:7002".into(), Err(ScrapeError::Unreachable)),
            ],
            client: None,
        });
        let snap = st.snapshot(6_500, 0);
        let n2 = snap.nodes.iter().find(|n| n.name == "node2").unwrap();
        assert_eq!(n2.state, "unreachable");
        assert_eq!(n2.seen_down_by, 1);
        let kinds: Vec<(&str, &str)> = snap
            .events
            .iter()
            .map(|e| (e.kind.as_str(), e.node.as_str()))
            .collect();
        assert!(kinds.contains(&("unreachable", "node2")), "{kinds:?}");
        let down = snap
            .events
            .iter()
            .find(|e| e.kind == "member_down")
            .unwrap();
        assert_eq!(down.node, "node2");
        assert_eq!(down.by, vec!["node1"]);
        assert_eq!(down.t_ms, 6_000);
        assert!(down.detail.starts_with("3.0 s after"), "{}", down.detail);
        assert_eq!(snap.ticks.len(), 4);
        assert!(!snap.ticks[3].nodes["node2"].up);
        // Only new ticks are sent to a dashboard that has the rest.
        assert_eq!(st.snapshot(6_500, 3).ticks.len(), 1);
    }

    #[test]
    fn rates_come_from_counter_differences() {
        let mut st = Store::new(vec!["127.0.0.1:7001".into()], None, 1_000, 60_000, 0);
        for (i, done) in [0u64, 2, 4].iter().enumerate() {
            let mut s = status("node1", 1, "FRA", &[]);
            s.counters.core.transcodes_ok = *done;
            s.counters.core.messages_in = 10 * i as u64;
            st.ingest(Round {
                t_ms: 1_000 * (i as u64 + 1),
                results: vec![ok(s)],
                client: None,
            });
        }
        let snap = st.snapshot(3_000, 0);
        let last = &snap.ticks[2].nodes["node1"];
        assert_eq!(last.jobs_per_s, Some(2.0));
        assert_eq!(last.messages_in_per_s, Some(10.0));
        assert_eq!(snap.ticks[0].nodes["node1"].jobs_per_s, None);
    }

    #[test]
    fn one_line_per_failure_with_every_reporter_and_restarts_noticed() {
        let mut st = Store::new(vec!["127.0.0.1:7001".into()], None, 1_000, 60_000, 0);
        let peers_up = [("node3", 3, "alive", 100)];
        let round = |t, n1_view: &str, n2_view: &str| Round {
            t_ms: t,
            results: vec![
                ok(status("node1", 1, "FRA", &[("node3", 3, n1_view, t - 500)])),
                ok(status("node2", 2, "IAD", &[("node3", 3, n2_view, t - 200)])),
            ],
            client: None,
        };
        st.ingest(Round {
            t_ms: 1_000,
            results: vec![
                ok(status("node1", 1, "FRA", &peers_up)),
                ok(status("node2", 2, "IAD", &peers_up)),
            ],
            client: None,
        });
        st.ingest(round(5_000, "down", "alive"));
        st.ingest(round(6_000, "down", "down"));
        let snap = st.snapshot(6_000, 0);
        let downs: Vec<&Event> = snap
            .events
            .iter()
            .filter(|e| e.kind == "member_down")
            .collect();
        assert_eq!(downs.len(), 1, "{downs:?}");
        assert_eq!(downs[0].by, vec!["node1", "node2"]);
        assert_eq!(downs[0].t_ms, 4_500);
        assert_eq!(downs[0].last_ms, 5_800);

        // node1 comes back with a new life.
        let mut again = status("node1", 1, "FRA", &[]);
        again.gen = 2;
        again.uptime_ms = 10;
        st.ingest(Round {
            t_ms: 7_000,
            results: vec![ok(again)],
            client: None,
        });
        let snap = st.snapshot(7_000, 0);
        assert!(snap
            .events
            .iter()
            .any(|e| e.kind == "restarted" && e.node == "node1"));
        assert!(snap
            .events
            .iter()
            .any(|e| e.kind == "unreachable" && e.node == "node2"));
    }

    #[test]
    fn history_is_bounded() {
        let mut st = Store::new(vec!["a:1".into()], None, 1_000, 5_000, 0);
        for i in 0..20 {
            st.ingest(Round {
                t_ms: i * 1_000,
                results: vec![("a:1".into(), Err(ScrapeError::Unreachable))],
                client: None,
            });
        }
        let snap = st.snapshot(20_000, 0);
        assert_eq!(snap.ticks.len(), 5);
        assert_eq!(
            snap.seeds[0].error.as_deref(),
            Some("connection refused or unreachable")
        );
    }
}
