//! Reduces hand-built, rank-dependent profiles to rank 0 and writes what each rank had and what
//! rank 0 got, for the end-to-end tests (tests/test_mpi.py) to check independently.
//!
//! ```text
//! mpirun -n 4 target/release/examples/mpi_reduce OUT_DIR [--chunk BYTES] [--via-hook]
//! ```
//! Every rank writes `OUT_DIR/rank-<r>.json` (its own profile, serde_json). Rank 0 writes
//! `OUT_DIR/merged.json`, `merged.cali.json` (per rank), `merged-summary.cali.json` (across
//! ranks) and, with the `hdf5` feature, `merged.h5`.
//! `--chunk` cuts reduction messages into small pieces; `--via-hook` runs the reduction from the
//! finalize hook inside a raw `MPI_Finalize` call, the way an mpi4py program ends.
//!
//! Rank r enters `main` once, `main/compute` r+1 times with growing costs, `main/compute/kernel`
//! 2 times; odd ranks also enter `main/io`; rank 2 measures nothing at all.

use rankscope::collectors::{MetricInfo, Unit};
use rankscope::mpi;
use rankscope::profile::{MetricDesc, NodeRecord, Profile, Stats};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn node(
    nodes: &mut Vec<NodeRecord>,
    parent: Option<usize>,
    name: &str,
    samples: &[(&str, Vec<i64>)],
) -> usize {
    let id = nodes.len();
    let depth = parent.map_or(0, |p| nodes[p].depth + 1);
    let mut stats = BTreeMap::new();
    for (m, vals) in samples {
        let mut s = Stats::EMPTY;
        vals.iter().for_each(|&v| s.record(v));
        stats.insert(m.to_string(), s);
    }
    nodes.push(NodeRecord {
        across_ranks: Default::default(),
        id,
        parent,
        depth,
        name: name.into(),
        thread: None,
        start_ns: None,
        stats,
        per_rank: BTreeMap::new(),
    });
    id
}

/// The profile rank `r` measured (no rank column yet: the reduction adds it).
fn local_profile(r: i64) -> Profile {
    let mut p = Profile::new();
    p.metadata.insert("example".into(), "mpi_reduce".into());
    if r == 2 {
        // A rank that never entered a region.
        return p;
    }
    let clock = MetricInfo {
        name: "wall_clock",
        unit: Unit::Nanoseconds,
        additive: true,
        description: "elapsed wall-clock time",
    };
    p.metrics.push(MetricDesc::from_info("wall_clock", &clock));
    let bytes = MetricInfo {
        name: "bytes",
        unit: Unit::Bytes,
        additive: true,
        description: "bytes moved",
    };
    p.metrics.push(MetricDesc::from_info("example", &bytes));
    let compute: Vec<i64> = (0..=r).map(|i| 1_000_000 * (r + 1) + 7_000 * i).collect();
    let kernel = vec![300_000 + 50_000 * r, 310_000 * (r + 1)];
    let io = vec![2_500_000 + 100_000 * r];
    let total = compute.iter().sum::<i64>() + io.iter().sum::<i64>() * (r % 2) + 1_000;
    let mut nodes = Vec::new();
    let main = node(&mut nodes, None, "main", &[("wall_clock", vec![total])]);
    let c = node(
        &mut nodes,
        Some(main),
        "compute",
        &[
            ("wall_clock", compute),
            ("bytes", vec![4096 * (r + 1); (r + 1) as usize]),
        ],
    );
    node(&mut nodes, Some(c), "kernel", &[("wall_clock", kernel)]);
    if r % 2 == 1 {
        node(
            &mut nodes,
            Some(main),
            "io",
            &[("wall_clock", io), ("bytes", vec![1 << 20])],
        );
    }
    p.nodes = nodes;
    p
}

fn write_json(path: &Path, p: &Profile) {
    let text = serde_json::to_string_pretty(p).expect("profile serialises");
    std::fs::write(path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

fn reduce_and_write(local: Profile, out: &Path, chunk: usize) {
    let reference = mpi::gather_to_root(local.clone());
    let merged = mpi::reduce_to_root_chunked(local, chunk);
    let Some(merged) = merged else {
        assert!(reference.is_none(), "only rank 0 gets the gathered result");
        return;
    };
    // The tree reduction and the plain gather must agree exactly.
    assert_eq!(
        Some(&merged),
        reference.as_ref(),
        "reduce and gather differ"
    );
    // And both must equal folding every rank's profile with concat_ranks in rank order: rank 0
    // can rebuild them all (they depend on the rank only); host names and pids come from the
    // result, MPI facts from the metadata rank 0 adds.
    let mut expected = Profile::new();
    for (r, info) in merged.ranks.iter().enumerate() {
        let mut p = local_profile(r as i64);
        p.assign_rank(info.clone());
        expected.concat_ranks(p);
    }
    for k in ["mpi.world.size", "mpi.version", "mpi.library_version"] {
        if let Some(v) = merged.metadata.get(k) {
            expected.metadata.insert(k.into(), v.clone());
        }
    }
    assert_eq!(merged, expected, "reduction differs from concat_ranks");
    write_json(&out.join("merged.json"), &merged);
    #[cfg(feature = "hdf5")]
    rankscope::output::hdf5::write_hdf5(&merged, &out.join("merged.h5")).expect("HDF5 output");
    let cali = rankscope::output::caliper::to_caliper_json(&merged).expect("json-split output");
    std::fs::write(out.join("merged.cali.json"), cali).expect("writing merged.cali.json");
    let summary = rankscope::output::caliper::to_caliper_summary_json(&merged).expect("summary");
    std::fs::write(out.join("merged-summary.cali.json"), summary).expect("writing summary");
    println!(
        "rank 0: {} ranks, {} nodes -> {}",
        merged.ranks.len(),
        merged.nodes.len(),
        out.display()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let out = PathBuf::from(
        args.get(1)
            .expect("usage: mpi_reduce OUT_DIR [--chunk N] [--via-hook]"),
    );
    let chunk = args
        .iter()
        .position(|a| a == "--chunk")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(mpi::MAX_CHUNK);
    let via_hook = args.iter().any(|a| a == "--via-hook");

    let w = mpi::init(mpi::ThreadLevel::Multiple);
    std::fs::create_dir_all(&out).expect("output folder");
    let local = local_profile(w.rank as i64);
    write_json(&out.join(format!("rank-{}.json", w.rank)), &local);

    if via_hook {
        let out2 = out.clone();
        mpi::on_finalize(Box::new(move || reduce_and_write(local, &out2, chunk)));
        #[cfg(feature = "mpi")]
        // SAFETY: MPI is initialised (by us) and not finalised; this stands in for an
        // application or mpi4py calling MPI_Finalize itself. The hook runs the reduction first.
        unsafe {
            ::mpi::ffi::MPI_Finalize();
        }
        // The callback already ran inside MPI_Finalize: this finds nothing left to do.
        mpi::finalize();
    } else {
        reduce_and_write(local, &out, chunk);
        mpi::finalize();
    }
}
