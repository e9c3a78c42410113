//! Local health awareness on real cores: three nodes 100 ms apart, one of which stalls now and
//! then (its process does not run: CPU starvation, a stop signal). While stalled, its timers
//! wait and what is sent to it is lost (as in the simulator's pause fault: the sender's request
//! times out); when it runs again its overdue timers fire at once.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::Arc;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use vidmesh_core::*;

struct Net {
    nodes: Vec<Node>,
    /// (time, class, seq, target): timers (class 0) before messages (class 1) at one instant.
    queue: BinaryHeap<Reverse<(u64, u8, u64, usize)>>,
    inputs: BTreeMap<u64, Input>,
    seq: u64,
    now: u64,
    /// Node that does not run inside these windows.
    stalls: Vec<(u64, u64)>,
    slow: usize,
    /// (time, observer, suspected node index)
    suspicions: Vec<(u64, usize, usize)>,
    downs: Vec<(u64, usize, usize)>,
}

impl Net {
    fn new(lifeguard_max: u8) -> Net {
        let zones = Arc::new(ZoneTable::report_default());
        let fra = zones.zone("FRA").unwrap();
        let nodes = (0..3u32)
            .map(|i| {
                let id = NodeId(i + 1);
                let mut cfg = NodeConfig::new(id, fra, PeerAddr::sim(id), zones.clone());
                cfg.seeds = vec![PeerAddr::sim(NodeId(1))];
                cfg.gossip.lifeguard_max = lifeguard_max;
                let mut rng = ChaCha8Rng::seed_from_u64(7);
                rng.set_stream(i as u64 * 2);
                Node::new(cfg, rng).unwrap()
            })
            .collect();
        let mut net = Net {
            nodes,
            queue: BinaryHeap::new(),
            inputs: BTreeMap::new(),
            seq: 0,
            now: 0,
            stalls: Vec::new(),
            slow: 2,
            suspicions: Vec::new(),
            downs: Vec::new(),
        };
        for i in 0..3 {
            net.nodes[i].start(0);
            net.drain(i);
        }
        net
    }

    fn push(&mut self, at: u64, class: u8, to: usize, input: Input) {
        self.seq += 1;
        self.inputs.insert(self.seq, input);
        self.queue.push(Reverse((at, class, self.seq, to)));
    }

    fn drain(&mut self, i: usize) {
        while let Some(out) = self.nodes[i].poll_output() {
            match out {
                Output::Send { to, msg } => {
                    let j = to.addr.port as usize - 1;
                    self.push(self.now + 100, 1, j, Input::Message(msg));
                }
                Output::SetTimer { at, timer } => self.push(at, 0, i, Input::Timer(timer)),
                Output::Event(Event::Suspected(p)) => {
                    self.suspicions.push((self.now, i, p.node.0 as usize - 1))
                }
                Output::Event(Event::MemberDown(p)) => {
                    self.downs.push((self.now, i, p.node.0 as usize - 1))
                }
                _ => {}
            }
        }
    }

    fn run_until(&mut self, end: u64) {
        while let Some(Reverse((at, class, seq, to))) = self.queue.pop() {
            if at > end {
                self.queue.push(Reverse((at, class, seq, to)));
                break;
            }
            // Inside a stall nothing runs: timers wait for the stall's end, messages are lost.
            if to == self.slow {
                if let Some(&(_, until)) = self.stalls.iter().find(|(a, b)| *a <= at && at < *b) {
                    if class == 0 {
                        self.queue.push(Reverse((until, class, seq, to)));
                    } else {
                        self.inputs.remove(&seq);
                    }
                    continue;
                }
            }
            self.now = at;
            let input = self.inputs.remove(&seq).unwrap();
            self.nodes[to].handle_input(at, input);
            self.drain(to);
        }
        self.now = end;
    }
}

/// 500 stalls of 1.5 s, one every 4.1 s, after the cluster formed.
fn starved(lifeguard_max: u8) -> Net {
    let mut net = Net::new(lifeguard_max);
    net.stalls = (0..500)
        .map(|k| (20_000 + k * 4_100, 21_500 + k * 4_100))
        .collect();
    net.run_until(2_100_000);
    net
}

#[test]
fn a_node_that_stalls_stops_blaming_its_healthy_peers() {
    let off = starved(0);
    let on = starved(8);
    let by_slow = |n: &Net| n.suspicions.iter().filter(|s| s.1 == n.slow).count();
    let (before, after) = (by_slow(&off), by_slow(&on));
    eprintln!(
        "suspicions of healthy peers raised by the stalling node: {before} without local \
         health, {after} with; health {:?}",
        on.nodes[2].health()
    );
    assert!(before >= 5, "the stalls cause false suspicions: {before}");
    assert!(after * 10 <= before, "{after} vs {before}");
    assert!(on.nodes[2].health().late_timers > 0);
    assert!(on.nodes[2].health().max_multiplier >= 1);
    // No healthy node is declared down, and the healthy nodes stay at multiplier 0.
    assert!(on.downs.iter().all(|d| d.2 == on.slow), "{:?}", on.downs);
    assert_eq!(on.nodes[0].health().max_multiplier, 0);
    assert_eq!(on.nodes[1].health().max_multiplier, 0);
}

#[test]
fn a_real_crash_is_detected_as_fast_with_local_health_on() {
    let detect = |lifeguard_max: u8| {
        let mut net = Net::new(lifeguard_max);
        net.run_until(20_000);
        // Node 3 dies: nothing it would do happens any more.
        net.stalls = vec![(20_000, u64::MAX)];
        net.run_until(60_000);
        let first = net
            .downs
            .iter()
            .filter(|d| d.2 == 2)
            .map(|d| d.0)
            .min()
            .expect("the crash is detected");
        first - 20_000
    };
    let (off, on) = (detect(0), detect(8));
    eprintln!("crash detected after {off} ms without local health, {on} ms with");
    assert_eq!(off, on);
}
