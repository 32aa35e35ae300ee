//! Property test: any profile written as native JSON reads back equal, whatever the tree shape,
//! rank count or size of the integers (sums beyond 2^64 included).

use proptest::prelude::*;
use rankscope::output::{parse_profile, to_json};
use rankscope::profile::{MetricDesc, NodeRecord, Profile, RankInfo, Stats};
use std::collections::BTreeMap;

fn stats() -> impl Strategy<Value = Stats> {
    (
        any::<u64>(),
        any::<i128>(),
        any::<u128>(),
        any::<i64>(),
        any::<i64>(),
    )
        .prop_map(|(laps, sum, sumsq, min, max)| Stats {
            laps,
            sum,
            sumsq,
            min,
            max,
        })
}

/// A profile with `ranks` ranks and nodes whose parents are drawn among earlier nodes.
fn profile() -> impl Strategy<Value = Profile> {
    (
        1usize..5,
        prop::collection::vec((any::<prop::sample::Index>(), any::<bool>()), 0..12),
    )
        .prop_flat_map(|(ranks, shape)| {
            let n = shape.len();
            (
                Just(ranks),
                Just(shape),
                prop::collection::vec(stats(), n),
                prop::collection::vec(prop::collection::vec(prop::option::of(stats()), ranks), n),
                "[a-z_/ <>\"\\\\é]{0,12}",
            )
        })
        .prop_map(|(ranks, shape, totals, cols, name)| {
            let mut p = Profile::new();
            // Not additive: arbitrary sums would overflow a parent-minus-children difference,
            // which is not what this test is about.
            p.metrics = vec![MetricDesc {
                name: "m".into(),
                collector: "c".into(),
                unit: "count".into(),
                display_unit: "".into(),
                scale: 1.0,
                additive: false,
                description: name.clone(),
            }];
            p.metadata.insert("note".into(), name.clone().into());
            p.ranks = (0..ranks as u32)
                .map(|r| RankInfo {
                    rank: r,
                    hostname: name.clone(),
                    pid: r,
                    binding: None,
                    samples: None,
                    clock_offset_ns: (r % 2 == 1).then_some(-(r as i64)),
                })
                .collect();
            for (id, ((pick, top), (s, c))) in shape
                .into_iter()
                .zip(totals.into_iter().zip(cols))
                .enumerate()
            {
                let parent = (id > 0 && !top).then(|| pick.index(id));
                let depth = parent.map_or(0, |q: usize| p.nodes[q].depth + 1);
                p.nodes.push(NodeRecord {
                    across_ranks: Default::default(),
                    id,
                    parent,
                    depth,
                    name: format!("{name}{id}"),
                    thread: (id % 3 == 0).then_some(id as u32),
                    start_ns: (id % 2 == 0).then_some(-(id as i64)),
                    stats: BTreeMap::from([("m".to_string(), s)]),
                    per_rank: BTreeMap::from([("m".to_string(), c)]),
                });
            }
            p
        })
}

proptest! {
    #[test]
    fn json_round_trips(p in profile()) {
        let bytes = to_json(&p).unwrap();
        prop_assert_eq!(parse_profile(&bytes).unwrap(), p);
    }
}
