//! The ceilings as a table for people (`rankscope roofline ceilings` without `--json`).

use super::format::{Ceilings, HostCeilings, Levels};

/// One block per host.
pub fn render(doc: &Ceilings) -> String {
    doc.hosts
        .iter()
        .map(host_block)
        .collect::<Vec<_>>()
        .join("\n")
}

fn host_block(h: &HostCeilings) -> String {
    let mut out = format!(
        "roofline ceilings of {} ({}, {}; {} thread{} in {} rank{}; {}{})\n",
        h.host,
        if h.cpu.is_empty() {
            "CPU unknown"
        } else {
            &h.cpu
        },
        h.isa,
        h.threads,
        if h.threads == 1 { "" } else { "s" },
        h.ranks,
        if h.ranks == 1 { "" } else { "s" },
        h.date,
        if h.quick { ", quick sweep" } else { "" }
    );
    let p = &h.peak_gflops;
    out.push_str("  peak GFLOP/s      vector    scalar\n");
    out.push_str(&format!(
        "    double      {:>10.1}{:>10.1}\n",
        p.vector_double, p.scalar_double
    ));
    out.push_str(&format!(
        "    single      {:>10.1}{:>10.1}\n",
        p.vector_single, p.scalar_single
    ));
    out.push_str("  bandwidth GB/s        L1        L2        L3      DRAM\n");
    for (name, levels) in [
        ("load", &h.kernels.load),
        ("copy", &h.kernels.copy),
        ("triad", &h.kernels.triad),
    ] {
        out.push_str(&format!("    {name:<12}{}\n", row(levels)));
    }
    let kib = |b: u64| format!("{} KiB", b / 1024);
    out.push_str(&format!(
        "  cache per thread: L1 {}, L2 {}, L3 {}\n",
        kib(h.cache_bytes.l1),
        kib(h.cache_bytes.l2),
        h.cache_bytes.l3.map_or("none".to_string(), kib)
    ));
    for n in &h.notes {
        out.push_str(&format!("  note: {n}\n"));
    }
    out
}

fn row(l: &Levels) -> String {
    [l.l1, l.l2, l.l3, l.dram]
        .iter()
        .map(|v| match v {
            Some(x) => format!("{x:>10.1}"),
            None => format!("{:>10}", "-"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::format::tests::sample_host;
    use super::*;

    #[test]
    fn table_shows_every_number_and_missing_levels() {
        let mut h = sample_host("node7", true);
        h.notes.push("load l3: no flat plateau".into());
        let t = render(&Ceilings::new(vec![h]));
        assert!(
            t.starts_with("roofline ceilings of node7 (AMD EPYC, avx2+fma; 2 threads in 1 rank;")
        );
        assert!(t.contains("quick sweep"));
        assert!(t.contains("    double            85.0      21.0\n"), "{t}");
        assert!(
            t.contains("    load             160.0      90.0         -      15.5\n"),
            "{t}"
        );
        assert!(t.contains("L3 none") && t.contains("note: load l3"), "{t}");
    }
}
