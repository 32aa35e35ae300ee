//! One machine as text: a compact `lstopo` (packages, NUMA nodes, cores and their PUs by OS
//! index, caches per level), and a line for a binding.

use rankscope_collectors::topology::{format_list, Binding, MachineSummary};

/// `1 package, 2 cores, 2 PUs, 1 NUMA node, 21.2 GiB, <CPU model>`.
pub(super) fn one_line(m: &MachineSummary) -> String {
    let count = |n: u32, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    let mut parts = vec![
        count(m.packages, "package"),
        count(m.cores, "core"),
        count(m.pus, "PU"),
        count(m.numa_nodes, "NUMA node"),
    ];
    if m.memory_bytes > 0 {
        parts.push(bytes(m.memory_bytes));
    }
    if !m.cpu_model.is_empty() {
        parts.push(m.cpu_model.clone());
    }
    parts.join(", ")
}

/// The machine, nested as `lstopo` draws it, with OS indices (`P#`):
///
/// ```text
/// Machine vm: 1 package, 2 cores, 2 PUs, 1 NUMA node, 21.2 GiB, Intel(R) Xeon(R) Processor
///   caches: L1d 48 KiB x2, L1i 64 KiB x2, L2 2 MiB x2, L3 504 MiB x1 (shared by 2 PUs)
///   Package P#0
///     NUMANode P#0 21.2 GiB: PUs 0-1
///     Core P#0: PU 0
///     Core P#1: PU 1
/// ```
pub fn machine_text(host: &str, m: &MachineSummary) -> String {
    let mut out = format!("Machine {host}: {}\n", one_line(m));
    if !m.caches.is_empty() {
        let caches: Vec<String> = m
            .caches
            .iter()
            .map(|c| {
                let kind = match c.kind.as_str() {
                    "data" => "d",
                    "instruction" => "i",
                    _ => "",
                };
                let shared = if c.pus_per_cache > 1 {
                    format!(" (shared by {} PUs)", c.pus_per_cache)
                } else {
                    String::new()
                };
                format!(
                    "L{}{kind} {} x{}{shared}",
                    c.level,
                    bytes(c.size_bytes),
                    c.count
                )
            })
            .collect();
        out.push_str(&format!("  caches: {}\n", caches.join(", ")));
    }
    let mut placed = vec![false; m.numa_layout.len()];
    for p in &m.package_layout {
        out.push_str(&format!("  Package P#{}\n", p.os_index));
        let package_pus: Vec<u32> = p.cores.iter().flat_map(|c| c.pus.clone()).collect();
        // A NUMA node inside this package is drawn in it; one spanning packages at the top.
        for (i, n) in m.numa_layout.iter().enumerate() {
            if !placed[i] && !n.pus.is_empty() && n.pus.iter().all(|x| package_pus.contains(x)) {
                placed[i] = true;
                out.push_str(&format!("    {}\n", numa(n)));
            }
        }
        for c in &p.cores {
            let s = if c.pus.len() == 1 { "" } else { "s" };
            out.push_str(&format!(
                "    Core P#{}: PU{s} {}\n",
                c.os_index,
                format_list(&c.pus)
            ));
        }
    }
    for (i, n) in m.numa_layout.iter().enumerate() {
        if !placed[i] {
            out.push_str(&format!("  {}\n", numa(n)));
        }
    }
    out
}

fn numa(n: &rankscope_collectors::topology::NumaLayout) -> String {
    format!(
        "NUMANode P#{} {}: PUs {}",
        n.os_index,
        bytes(n.memory_bytes),
        format_list(&n.pus)
    )
}

/// `bound to PUs 0 (cores 0, packages 0, NUMA nodes 0); allowed PUs 0-1` or the reason it is
/// unknown.
pub fn binding_line(b: &Binding) -> String {
    if let Some(why) = &b.error {
        return format!("binding unknown: {why}");
    }
    let state = if b.bound {
        "bound to"
    } else {
        "not bound: may run on"
    };
    format!(
        "{state} PUs {} (cores {}, packages {}, NUMA nodes {}); allowed PUs {}",
        format_list(&b.pus),
        format_list(&b.cores),
        format_list(&b.packages),
        format_list(&b.numa_nodes),
        format_list(&b.allowed_pus)
    )
}

/// Sizes as lstopo and people write them: KiB up to 1 MiB, MiB up to 1 GiB, then GiB.
fn bytes(n: u64) -> String {
    const KIB: u64 = 1 << 10;
    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;
    let scaled = |unit: u64, name: &str| {
        if n.is_multiple_of(unit) {
            format!("{} {name}", n / unit)
        } else {
            format!("{:.1} {name}", n as f64 / unit as f64)
        }
    };
    match n {
        0 => "? B".into(),
        n if n < KIB => format!("{n} B"),
        n if n < MIB => scaled(KIB, "KiB"),
        n if n < GIB => scaled(MIB, "MiB"),
        _ => scaled(GIB, "GiB"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rankscope_collectors::topology::{CacheLevel, CoreLayout, NumaLayout, PackageLayout};

    #[test]
    fn a_small_machine_reads_like_lstopo() {
        let m = MachineSummary {
            cpu_model: "Test CPU".into(),
            packages: 1,
            cores: 2,
            pus: 4,
            numa_nodes: 1,
            memory_bytes: 16 << 30,
            caches: vec![
                CacheLevel {
                    level: 1,
                    kind: "data".into(),
                    size_bytes: 48 << 10,
                    line_bytes: 64,
                    count: 2,
                    pus_per_cache: 2,
                },
                CacheLevel {
                    level: 3,
                    kind: "unified".into(),
                    size_bytes: 33 << 20,
                    line_bytes: 64,
                    count: 1,
                    pus_per_cache: 4,
                },
            ],
            package_layout: vec![PackageLayout {
                os_index: 0,
                cores: vec![
                    CoreLayout {
                        os_index: 0,
                        pus: vec![0, 2],
                    },
                    CoreLayout {
                        os_index: 1,
                        pus: vec![1, 3],
                    },
                ],
            }],
            numa_layout: vec![NumaLayout {
                os_index: 0,
                memory_bytes: 16 << 30,
                pus: vec![0, 1, 2, 3],
            }],
        };
        assert_eq!(
            machine_text("n1", &m),
            "Machine n1: 1 package, 2 cores, 4 PUs, 1 NUMA node, 16 GiB, Test CPU\n\
             \x20 caches: L1d 48 KiB x2 (shared by 2 PUs), L3 33 MiB x1 (shared by 4 PUs)\n\
             \x20 Package P#0\n\
             \x20   NUMANode P#0 16 GiB: PUs 0-3\n\
             \x20   Core P#0: PUs 0,2\n\
             \x20   Core P#1: PUs 1,3\n"
        );
    }

    #[test]
    fn sizes_keep_their_digits() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(48 << 10), "48 KiB");
        assert_eq!(bytes(516096 << 10), "504 MiB");
        assert_eq!(bytes(22243064 << 10), "21.2 GiB");
    }
}
