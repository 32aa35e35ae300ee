//! The per-rank binding table (`rankscope topology --ranks` and `rankscope topology OUTPUT`),
//! in the spirit of Open MPI's `--report-bindings`, with problems flagged.

use super::hosts::{host_topologies, HostTopology};
use crate::profile::{Profile, RankInfo};
use rankscope_collectors::topology::{format_list, Binding, MachineSummary};
use std::collections::{BTreeMap, BTreeSet};

/// Something worth a look in one rank's binding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RankFlag {
    /// Not bound: the rank may run on any PU it is allowed to (and the scheduler moves it).
    Unbound,
    /// Bound to a core (at least one PU of it) that these other ranks on the same host are
    /// also bound to.
    SharesCore(Vec<u32>),
    /// The binding is not known: not recorded, or hwloc failed (the reason).
    Unknown(String),
}

impl std::fmt::Display for RankFlag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RankFlag::Unbound => write!(f, "unbound"),
            RankFlag::SharesCore(with) => {
                let names: Vec<String> = with.iter().map(u32::to_string).collect();
                let s = if with.len() == 1 { "" } else { "s" };
                write!(f, "shares a core with rank{s} {}", names.join(","))
            }
            RankFlag::Unknown(why) => write!(f, "binding unknown: {why}"),
        }
    }
}

/// A core, named so that it is unique on its host: core OS indices repeat across packages.
type CoreKey = (u32, u32);

/// The cores a binding touches, as (package, core) OS indices. From the host's layout when
/// known (exact); otherwise from the binding's own lists, exact on one-package machines.
fn cores_of(b: &Binding, machine: Option<&MachineSummary>) -> BTreeSet<CoreKey> {
    match machine {
        Some(m) => m
            .package_layout
            .iter()
            .flat_map(|p| p.cores.iter().map(move |c| (p.os_index, c)))
            .filter(|(_, c)| c.pus.iter().any(|pu| b.pus.contains(pu)))
            .map(|(p, c)| (p, c.os_index))
            .collect(),
        None => {
            let package = match b.packages.as_slice() {
                [only] => *only,
                _ => u32::MAX,
            };
            b.cores.iter().map(|&c| (package, c)).collect()
        }
    }
}

/// The flags of every rank column of `p`, in column order. Only bound ranks can share a core
/// (unbound ones are flagged as such: where they run is the scheduler's choice).
pub fn rank_flags(p: &Profile) -> Vec<Vec<RankFlag>> {
    let hosts = host_topologies(p);
    let mut flags: Vec<Vec<RankFlag>> = vec![Vec::new(); p.ranks.len()];
    // (host, core) -> the columns of the bound ranks on it.
    let mut on_core: BTreeMap<(&str, CoreKey), Vec<usize>> = BTreeMap::new();
    for (col, r) in p.ranks.iter().enumerate() {
        match known(r) {
            Err(why) => flags[col].push(RankFlag::Unknown(why)),
            Ok(b) if !b.bound => flags[col].push(RankFlag::Unbound),
            Ok(b) => {
                let machine = hosts.get(&r.hostname).and_then(HostTopology::summary);
                for core in cores_of(b, machine) {
                    on_core
                        .entry((r.hostname.as_str(), core))
                        .or_default()
                        .push(col);
                }
            }
        }
    }
    let mut sharing: Vec<BTreeSet<u32>> = vec![BTreeSet::new(); p.ranks.len()];
    for cols in on_core.values().filter(|c| c.len() > 1) {
        for &a in cols {
            sharing[a].extend(cols.iter().filter(|&&b| b != a).map(|&b| p.ranks[b].rank));
        }
    }
    for (col, with) in sharing.into_iter().enumerate() {
        if !with.is_empty() {
            flags[col].push(RankFlag::SharesCore(with.into_iter().collect()));
        }
    }
    flags
}

fn known(r: &RankInfo) -> Result<&Binding, String> {
    match &r.binding {
        None => Err("not recorded (a profile from before rankscope recorded bindings)".into()),
        Some(Binding {
            error: Some(why), ..
        }) => Err(why.clone()),
        Some(b) => Ok(b),
    }
}

/// Open MPI's binding picture: one `[...]` per package, cores separated by `/`, one character
/// per PU: `B` in the binding, `.` not. Empty without the host's layout.
fn map(b: &Binding, machine: Option<&MachineSummary>) -> String {
    let Some(m) = machine else {
        return String::new();
    };
    m.package_layout
        .iter()
        .map(|p| {
            let cores: Vec<String> = p
                .cores
                .iter()
                .map(|c| {
                    c.pus
                        .iter()
                        .map(|pu| if b.pus.contains(pu) { 'B' } else { '.' })
                        .collect()
                })
                .collect();
            format!("[{}]", cores.join("/"))
        })
        .collect()
}

/// The table: a line per host with its machine, then one row per rank column (rank, host,
/// pid, bound or not, the PUs, cores, packages and NUMA nodes of its binding, its allowed PUs,
/// the binding picture, the flags), then a count of each flag.
pub fn binding_table(p: &Profile) -> String {
    let hosts = host_topologies(p);
    let flags = rank_flags(p);
    let mut out = String::new();
    let host_count = p
        .ranks
        .iter()
        .map(|r| r.hostname.as_str())
        .collect::<BTreeSet<_>>()
        .len();
    out.push_str(&format!(
        "{} rank{} on {} host{}\n",
        p.ranks.len(),
        plural(p.ranks.len()),
        host_count,
        plural(host_count)
    ));
    for (host, t) in &hosts {
        let what = match t {
            HostTopology::Known(m) => super::machine_text::one_line(m),
            HostTopology::Failed(why) => format!("topology unknown: {why}"),
        };
        out.push_str(&format!("host {host}: {what}\n"));
    }
    let header = [
        "RANK", "HOST", "PID", "BOUND", "PUS", "CORES", "PACKAGES", "NUMA", "ALLOWED", "MAP",
        "FLAGS",
    ];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    for (col, r) in p.ranks.iter().enumerate() {
        let machine = hosts.get(&r.hostname).and_then(HostTopology::summary);
        let shown: Vec<String> = flags[col].iter().map(ToString::to_string).collect();
        let mut row = vec![r.rank.to_string(), r.hostname.clone(), r.pid.to_string()];
        match known(r) {
            Ok(b) => row.extend([
                if b.bound { "yes" } else { "no" }.to_string(),
                format_list(&b.pus),
                format_list(&b.cores),
                format_list(&b.packages),
                format_list(&b.numa_nodes),
                format_list(&b.allowed_pus),
                map(b, machine),
            ]),
            Err(_) => row.extend(["?"; 7].map(String::from)),
        }
        row.push(if shown.is_empty() {
            "-".into()
        } else {
            shown.join("; ")
        });
        rows.push(row);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    let count = |f: fn(&RankFlag) -> bool| flags.iter().filter(|fs| fs.iter().any(f)).count();
    out.push_str(&format!(
        "{} bound, {} unbound, {} sharing a core, {} unknown\n",
        p.ranks
            .iter()
            .filter(|r| known(r).is_ok_and(|b| b.bound))
            .count(),
        count(|f| matches!(f, RankFlag::Unbound)),
        count(|f| matches!(f, RankFlag::SharesCore(_))),
        count(|f| matches!(f, RankFlag::Unknown(_))),
    ));
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rankscope_collectors::topology::{CoreLayout, PackageLayout};
    use serde_json::json;

    /// Two packages of two cores of two PUs: package 0 cores 0,1 (PUs 0,4 and 1,5), package 1
    /// cores 0,1 again (OS indices repeat across packages; PUs 2,6 and 3,7).
    fn machine() -> MachineSummary {
        let core = |os_index, pus: [u32; 2]| CoreLayout {
            os_index,
            pus: pus.to_vec(),
        };
        MachineSummary {
            cpu_model: "Test CPU".into(),
            packages: 2,
            cores: 4,
            pus: 8,
            numa_nodes: 1,
            package_layout: vec![
                PackageLayout {
                    os_index: 0,
                    cores: vec![core(0, [0, 4]), core(1, [1, 5])],
                },
                PackageLayout {
                    os_index: 1,
                    cores: vec![core(0, [2, 6]), core(1, [3, 7])],
                },
            ],
            ..Default::default()
        }
    }

    fn rank(rank: u32, host: &str, pus: &[u32], binding: Option<&str>) -> RankInfo {
        let all: Vec<u32> = (0..8).collect();
        RankInfo {
            rank,
            hostname: host.into(),
            pid: 100 + rank,
            binding: Some(match binding {
                Some(err) => Binding::failed(err),
                None => Binding {
                    pus: pus.to_vec(),
                    cores: vec![],
                    packages: vec![],
                    numa_nodes: vec![0],
                    bound: pus.len() < all.len(),
                    allowed_pus: all,
                    error: None,
                },
            }),
            samples: None,
            clock_offset_ns: None,
        }
    }

    fn profile(ranks: Vec<RankInfo>) -> Profile {
        let mut p = Profile::new();
        p.metadata.insert(
            "topology.a".into(),
            serde_json::to_value(machine()).unwrap(),
        );
        p.metadata
            .insert("topology.b".into(), json!({"error": "no hwloc on b"}));
        p.ranks = ranks;
        p
    }

    #[test]
    fn sharing_unbound_and_unknown_are_flagged() {
        let mut no_record = rank(5, "a", &[], None);
        no_record.binding = None;
        let p = profile(vec![
            rank(0, "a", &[0], None),                        // core 0 of package 0
            rank(1, "a", &[4], None), // the same core's other PU: shares with 0
            rank(2, "a", &[2], None), // core 0 of package 1: not the same core
            rank(3, "a", &(0..8).collect::<Vec<_>>(), None), // unbound
            rank(4, "b", &[], Some("hwloc failed")),
            no_record,
        ]);
        let f = rank_flags(&p);
        assert_eq!(f[0], [RankFlag::SharesCore(vec![1])]);
        assert_eq!(f[1], [RankFlag::SharesCore(vec![0])]);
        assert_eq!(f[2], []);
        assert_eq!(f[3], [RankFlag::Unbound]);
        assert_eq!(f[4], [RankFlag::Unknown("hwloc failed".into())]);
        assert!(matches!(&f[5][..], [RankFlag::Unknown(_)]));
        let t = binding_table(&p);
        assert!(t.starts_with("6 ranks on 2 hosts\n"), "{t}");
        assert!(t.contains("host a: 2 packages, 4 cores, 8 PUs"), "{t}");
        assert!(t.contains("host b: topology unknown: no hwloc on b"), "{t}");
        // Rank 0's picture: PU 0 of core 0 of package 0 only.
        assert!(t.contains("[B./..][../..]"), "{t}");
        assert!(t.contains("shares a core with rank 1"), "{t}");
        assert!(t.contains("binding unknown: hwloc failed"), "{t}");
        assert!(
            t.ends_with("3 bound, 1 unbound, 2 sharing a core, 2 unknown\n"),
            "{t}"
        );
    }

    #[test]
    fn ranks_on_different_hosts_never_share() {
        let mut p = profile(vec![rank(0, "a", &[0], None), rank(1, "c", &[0], None)]);
        p.metadata.insert(
            "topology.c".into(),
            serde_json::to_value(machine()).unwrap(),
        );
        assert_eq!(rank_flags(&p), vec![vec![], vec![]]);
    }
}
