//! The `[[faults]]` entries, checked: the node faults (crash, pause, drain) and the network's
//! (partition, loss, duplication, delay), each with the fields its kind takes.

use std::ops::Range;

use toml::Spanned;
use vidmesh_core::ZoneId;

use super::build::ErrFn;
use super::file::{FaultFile, FaultFileKind};
use super::{Fault, FaultKind, NetFault, NetFaultKind, NodeSpec, ScenarioError};

type ZoneOf<'a> = dyn Fn(&Spanned<String>, &str) -> Result<ZoneId, ScenarioError> + 'a;
type NodeIndex<'a> =
    dyn Fn(&[NodeSpec], &Spanned<String>, &str) -> Result<usize, ScenarioError> + 'a;

pub(super) fn build_faults(
    raw: &[FaultFile],
    nodes: &[NodeSpec],
    zone_of: &ZoneOf<'_>,
    node_index: &NodeIndex<'_>,
    err: &ErrFn<'_>,
) -> Result<(Vec<Fault>, Vec<NetFault>), ScenarioError> {
    let at = |s: &Range<usize>| Some(s.clone());
    // Faults: of nodes, and of the network between them.
    let mut faults = Vec::new();
    let mut net_faults = Vec::new();
    for f in raw {
        let at_s = *f.at_s.get_ref();
        if !(at_s.is_finite() && at_s >= 0.0) {
            return Err(err(at(&f.at_s.span()), "faults.at_s must be ≥ 0".into()));
        }
        let kind = *f.kind.get_ref();
        let for_ms = match &f.for_s {
            Some(s) if s.get_ref().is_finite() && *s.get_ref() > 0.0 => {
                Some((s.get_ref() * 1000.0).round() as u64)
            }
            Some(s) => return Err(err(at(&s.span()), "faults.for_s must be > 0".into())),
            None => None,
        };
        let at_ms = (at_s * 1000.0).round() as u64;
        let here = at(&f.kind.span());
        let name = format!("{kind:?}").to_lowercase();
        // Which fields each kind takes: a field another kind needs is a mistake worth naming.
        let takes = |field: &str| -> bool {
            use FaultFileKind as K;
            match field {
                "node" => matches!(kind, K::Crash | K::Pause | K::Drain),
                "side" => matches!(kind, K::Partition | K::Delay),
                "percent" => matches!(kind, K::Loss | K::Duplicate),
                "extra_ms" => kind == K::Delay,
                _ => false,
            }
        };
        for (field, given) in [
            ("node", f.node.is_some()),
            ("side", f.nodes.is_some() || f.zones.is_some()),
            ("percent", f.percent.is_some()),
            ("extra_ms", f.extra_ms.is_some()),
        ] {
            if given && !takes(field) {
                let field = if field == "side" {
                    "nodes/zones"
                } else {
                    field
                };
                return Err(err(
                    here.clone(),
                    format!("a {name} fault takes no `{field}`"),
                ));
            }
        }
        // One side of a partition or a delay: named nodes and every node of named zones.
        let side = |required: bool| -> Result<Option<Vec<bool>>, ScenarioError> {
            if f.nodes.is_none() && f.zones.is_none() {
                return if required {
                    Err(err(
                        here.clone(),
                        format!("a {name} fault needs `nodes` or `zones`: one side of it"),
                    ))
                } else {
                    Ok(None)
                };
            }
            let mut side = vec![false; nodes.len()];
            for n in f.nodes.iter().flatten() {
                side[node_index(nodes, n, "fault")?] = true;
            }
            for z in f.zones.iter().flatten() {
                let z = zone_of(z, "fault")?;
                for (i, n) in nodes.iter().enumerate() {
                    side[i] |= n.zone == z;
                }
            }
            if required && (side.iter().all(|&x| x) || side.iter().all(|&x| !x)) {
                return Err(err(
                    here.clone(),
                    format!("a {name} fault needs nodes on both sides of it"),
                ));
            }
            Ok(Some(side))
        };
        let percent = || -> Result<f64, ScenarioError> {
            match &f.percent {
                Some(p) if (0.0..=100.0).contains(p.get_ref()) => Ok(*p.get_ref() / 100.0),
                Some(p) => Err(err(
                    at(&p.span()),
                    format!("faults.percent must be within 0..=100, got {}", p.get_ref()),
                )),
                None => Err(err(here.clone(), format!("a {name} fault needs `percent`"))),
            }
        };
        let node_kind = match kind {
            FaultFileKind::Crash => Some(FaultKind::Crash),
            FaultFileKind::Pause => Some(FaultKind::Pause),
            FaultFileKind::Drain => Some(FaultKind::Drain),
            _ => None,
        };
        if let Some(node_kind) = node_kind {
            let Some(n) = &f.node else {
                return Err(err(here, format!("a {name} fault needs `node`")));
            };
            let node = node_index(nodes, n, "fault")?;
            if node_kind == FaultKind::Pause && for_ms.is_none() {
                return Err(err(at(&f.at_s.span()), "a pause fault needs for_s".into()));
            }
            if let (FaultKind::Drain, Some(s)) = (node_kind, &f.for_s) {
                return Err(err(
                    at(&s.span()),
                    "a drain fault takes no for_s: the drained node exits once its jobs are done"
                        .into(),
                ));
            }
            faults.push(Fault {
                at_ms,
                node,
                kind: node_kind,
                for_ms,
            });
            continue;
        }
        let kind = match kind {
            FaultFileKind::Partition => {
                if for_ms.is_none() {
                    return Err(err(
                        here,
                        "a partition fault needs for_s: when it heals (the checker then expects \
                         the membership to converge)"
                            .into(),
                    ));
                }
                NetFaultKind::Partition {
                    side: side(true)?.unwrap_or_default(),
                }
            }
            FaultFileKind::Loss => NetFaultKind::Loss { p: percent()? },
            FaultFileKind::Duplicate => NetFaultKind::Duplicate { p: percent()? },
            _ => {
                let extra_ms = match &f.extra_ms {
                    Some(x) if x.get_ref().is_finite() && *x.get_ref() >= 0.0 => {
                        x.get_ref().round() as u64
                    }
                    Some(x) => {
                        return Err(err(at(&x.span()), "faults.extra_ms must be ≥ 0".into()))
                    }
                    None => return Err(err(here, "a delay fault needs `extra_ms`".into())),
                };
                NetFaultKind::Delay {
                    extra_ms,
                    side: side(false)?,
                }
            }
        };
        net_faults.push(NetFault {
            at_ms,
            until_ms: for_ms.map(|d| at_ms + d),
            kind,
        });
    }
    net_faults.sort_by_key(|f| f.at_ms);
    // Overlapping faults on one node would make "down" ambiguous.
    for (i, a) in faults.iter().enumerate() {
        for b in &faults[i + 1..] {
            if a.node != b.node {
                continue;
            }
            let end = |f: &Fault| f.for_ms.map(|d| f.at_ms + d).unwrap_or(u64::MAX);
            if a.at_ms < end(b) && b.at_ms < end(a) {
                return Err(err(
                    at(&raw[i].at_s.span()),
                    format!("faults on node `{}` overlap", nodes[a.node].name),
                ));
            }
        }
    }
    faults.sort_by_key(|f| (f.at_ms, f.node));
    Ok((faults, net_faults))
}
