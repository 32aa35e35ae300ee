//! Which PMU events give FLOPs and bytes on which CPU, and how raw counts become FLOPs and
//! bytes. One table per vendor family, chosen from `/proc/cpuinfo`; the events of a table are
//! split into groups small enough to be counted together (each group is one perf_event group,
//! multiplexed on its own when the counters are short).

/// What an event's count stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Quantity {
    Flops,
    Bytes,
}

/// What one count of an event is worth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Weight {
    /// A fixed number of FLOPs (vector lanes) or bytes (a cache line) per count.
    Fixed(i64),
    /// Arm's `FP_SCALE_OPS_SPEC` counts per 128-bit granule of an SVE vector: times the
    /// vector length in bits / 128.
    PerSveGranule,
}

/// One event of a table.
#[derive(Debug)]
pub(crate) struct Counted {
    /// The vendor's name (`FP_ARITH_INST_RETIRED.SCALAR`).
    pub name: &'static str,
    /// The raw `perf_event_attr.config` (x86: event | umask << 8; Arm: the event number).
    pub config: u64,
    pub quantity: Quantity,
    pub weight: Weight,
}

/// A vendor family's events, in groups counted together.
#[derive(Debug)]
pub(crate) struct Table {
    /// For people: which CPUs and events (`Intel FP_ARITH_INST_RETIRED + L2_LINES_IN`).
    pub name: &'static str,
    pub groups: &'static [&'static [Counted]],
}

impl Table {
    /// Every event, group after group: the order of the counts [`weigh`] takes.
    pub fn events(&self) -> impl Iterator<Item = &'static Counted> {
        self.groups.iter().flat_map(|g| g.iter())
    }
}

const fn flops(name: &'static str, config: u64, lanes: i64) -> Counted {
    Counted {
        name,
        config,
        quantity: Quantity::Flops,
        weight: Weight::Fixed(lanes),
    }
}

const fn bytes(name: &'static str, config: u64, per_count: i64) -> Counted {
    Counted {
        name,
        config,
        quantity: Quantity::Bytes,
        weight: Weight::Fixed(per_count),
    }
}

/// Intel (Broadwell and later): `FP_ARITH_INST_RETIRED` (event 0xC7) counts instructions by
/// width and precision, an FMA twice already; umasks of equal lane count are merged as Intel's
/// own `4_FLOPS` (0x18) and `8_FLOPS` (0x60) events do, so five events cover the eight umasks.
/// Bytes: `L2_LINES_IN.ALL` (0xF1, umask 0x1F) lines of 64 B filled into L2. Two groups of
/// three, so that each fits the four counters a core has with Hyper-Threading on.
pub(crate) static INTEL: Table = Table {
    name: "Intel FP_ARITH_INST_RETIRED + L2_LINES_IN.ALL",
    groups: &[
        &[
            flops("FP_ARITH_INST_RETIRED.SCALAR (double, single)", 0x03c7, 1),
            flops("FP_ARITH_INST_RETIRED.128B_PACKED_DOUBLE", 0x04c7, 2),
            flops(
                "FP_ARITH_INST_RETIRED.4_FLOPS (128-bit single, 256-bit double)",
                0x18c7,
                4,
            ),
        ],
        &[
            flops(
                "FP_ARITH_INST_RETIRED.8_FLOPS (256-bit single, 512-bit double)",
                0x60c7,
                8,
            ),
            flops("FP_ARITH_INST_RETIRED.512B_PACKED_SINGLE", 0x80c7, 16),
            bytes("L2_LINES_IN.ALL", 0x1ff1, 64),
        ],
    ],
};

/// AMD Zen 1: `RETIRED_SSE_AVX_FLOPS` (PMCx003, every umask: single and double, add/sub,
/// mul, div, multiply-add counted as 2) counts FLOPs, not instructions. It can rise by more
/// than one per cycle, so the hardware needs a pair of counters (the Merge event PMCxFFF on
/// the odd one); Linux (5.7 and later, Family 17h onwards) programs the pair itself for such
/// "large increment per cycle" events, so one raw event is opened here, and it takes two of
/// the core's six counters.
/// Bytes: `LS_REFILLS_FROM_SYS` (PMCx043) L1 data fills from beyond the core's L2 (local
/// L3 or other caches, local and remote DRAM: umask 0x5A), 64 B each.
pub(crate) static AMD_ZEN1: Table = Table {
    name: "AMD Zen 1 RETIRED_SSE_AVX_FLOPS + LS_REFILLS_FROM_SYS",
    groups: &[&[
        flops("RETIRED_SSE_AVX_FLOPS (all)", 0xff03, 1),
        bytes("LS_REFILLS_FROM_SYS (beyond L2)", 0x5a43, 64),
    ]],
};

/// AMD Zen 2 and 3: the same events; the FLOP umask has four bits (add/sub, mul, div, mac).
pub(crate) static AMD_ZEN2: Table = Table {
    name: "AMD Zen 2/3 RETIRED_SSE_AVX_FLOPS + LS_REFILLS_FROM_SYS",
    groups: &[&[
        flops("RETIRED_SSE_AVX_FLOPS (all)", 0x0f03, 1),
        bytes("LS_REFILLS_FROM_SYS (beyond L2)", 0x5a43, 64),
    ]],
};

/// AMD Zen 4 and 5: the FLOP umask gains bfloat16 multiply-adds (bit 4); bytes from
/// `LS_ANY_FILLS_FROM_SYS` (PMCx044, demand and prefetch fills, every source beyond the L2:
/// umask 0xFE).
pub(crate) static AMD_ZEN4: Table = Table {
    name: "AMD Zen 4/5 RETIRED_SSE_AVX_FLOPS + LS_ANY_FILLS_FROM_SYS",
    groups: &[&[
        flops("RETIRED_SSE_AVX_FLOPS (all)", 0x1f03, 1),
        bytes("LS_ANY_FILLS_FROM_SYS (beyond L2)", 0xfe44, 64),
    ]],
};

/// Arm (Armv8.2 PMU with SVE, Armv9): `FP_FIXED_OPS_SPEC` (0x80C1) counts non-scalable FP
/// operations, `FP_SCALE_OPS_SPEC` (0x80C0) scalable ones per 128-bit granule (times the SVE
/// vector length / 128); both speculative, FMA as 2. Bytes: `BUS_ACCESS` (0x19) times 64 B
/// (the bus width is implementation defined: 64 B holds for Neoverse N2/V1/V2).
pub(crate) static ARM: Table = Table {
    name: "Arm FP_FIXED_OPS_SPEC + FP_SCALE_OPS_SPEC + BUS_ACCESS",
    groups: &[&[
        flops("FP_FIXED_OPS_SPEC", 0x80c1, 1),
        Counted {
            name: "FP_SCALE_OPS_SPEC",
            config: 0x80c0,
            quantity: Quantity::Flops,
            weight: Weight::PerSveGranule,
        },
        bytes("BUS_ACCESS", 0x19, 64),
    ]],
};

/// The table for the CPU that `/proc/cpuinfo` (its text) describes, or why there is none.
pub(crate) fn select(cpuinfo: &str) -> Result<&'static Table, String> {
    let field = |key: &str| {
        cpuinfo.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == key).then(|| v.trim().to_string())
        })
    };
    let number = |key: &str| -> Option<u32> {
        let v = field(key)?;
        match v.strip_prefix("0x") {
            Some(hex) => u32::from_str_radix(hex, 16).ok(),
            None => v.parse().ok(),
        }
    };
    if field("CPU implementer").is_some() {
        return Ok(&ARM);
    }
    match field("vendor_id").as_deref() {
        Some("GenuineIntel") => Ok(&INTEL),
        Some("AuthenticAMD") | Some("HygonGenuine") => {
            let (family, model) = (number("cpu family"), number("model"));
            match (family, model) {
                (Some(0x17), Some(m)) if m < 0x30 => Ok(&AMD_ZEN1),
                (Some(0x17), Some(_)) => Ok(&AMD_ZEN2),
                (Some(0x19), Some(m))
                    if (0x10..=0x1f).contains(&m)
                        || (0x60..=0x7f).contains(&m)
                        || (0xa0..=0xaf).contains(&m) =>
                {
                    Ok(&AMD_ZEN4)
                }
                (Some(0x19), Some(_)) => Ok(&AMD_ZEN2),
                (Some(f), Some(_)) if f >= 0x1a => Ok(&AMD_ZEN4),
                (f, m) => Err(format!(
                    "AMD CPU family {} model {} predates Zen (family 0x17): no FLOP event \
                     table for it",
                    f.map_or("?".into(), |f| format!("{f:#x}")),
                    m.map_or("?".into(), |m| format!("{m:#x}"))
                )),
            }
        }
        Some(other) => Err(format!(
            "no FLOP event table for CPU vendor '{other}' (tables: Intel, AMD Zen, Arm)"
        )),
        None => Err(
            "/proc/cpuinfo names no CPU vendor (no vendor_id or CPU implementer): \
                     no FLOP event table"
                .into(),
        ),
    }
}

/// FLOPs and bytes from one count per event of `table` (in [`Table::events`] order), for an
/// SVE vector length of `sve_bits` (128 where there is no SVE).
pub(crate) fn weigh(table: &Table, counts: &[i64], sve_bits: u32) -> (i64, i64) {
    let (mut flops, mut bytes) = (0i64, 0i64);
    for (e, &n) in table.events().zip(counts) {
        let value = match e.weight {
            Weight::Fixed(w) => n.saturating_mul(w),
            Weight::PerSveGranule => n.saturating_mul(i64::from(sve_bits / 128)),
        };
        match e.quantity {
            Quantity::Flops => flops = flops.saturating_add(value),
            Quantity::Bytes => bytes = bytes.saturating_add(value),
        }
    }
    (flops, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpuinfo(vendor: &str, family: u32, model: u32) -> String {
        format!(
            "processor\t: 0\nvendor_id\t: {vendor}\ncpu family\t: {family}\nmodel\t\t: {model}\n\
             model name\t: some CPU\nflags\t\t: fpu avx2 fma\n"
        )
    }

    #[test]
    fn the_cpu_picks_its_table() {
        assert!(std::ptr::eq(
            select(&cpuinfo("GenuineIntel", 6, 0x55)).unwrap(),
            &INTEL
        ));
        for (family, model, table) in [
            (0x17, 0x01, &AMD_ZEN1),
            (0x17, 0x31, &AMD_ZEN2),
            (0x19, 0x01, &AMD_ZEN2),
            (0x19, 0x11, &AMD_ZEN4),
            (0x19, 0x61, &AMD_ZEN4),
            (0x1a, 0x02, &AMD_ZEN4),
        ] {
            let t = select(&cpuinfo("AuthenticAMD", family, model)).unwrap();
            assert!(std::ptr::eq(t, table), "{family:#x} {model:#x}: {}", t.name);
        }
        let arm = "processor\t: 0\nBogoMIPS\t: 2000.00\nFeatures\t: fp asimd sve\n\
                   CPU implementer\t: 0x41\nCPU architecture: 8\nCPU part\t: 0xd40\n";
        assert!(std::ptr::eq(select(arm).unwrap(), &ARM));
        let e = select(&cpuinfo("AuthenticAMD", 0x15, 2)).unwrap_err();
        assert!(
            e.contains("family 0x15") && e.contains("predates Zen"),
            "{e}"
        );
        let e = select(&cpuinfo("CentaurHauls", 6, 15)).unwrap_err();
        assert!(e.contains("'CentaurHauls'"), "{e}");
        assert!(select("").unwrap_err().contains("names no CPU vendor"));
        // This machine's own /proc/cpuinfo gives a table or a reason, never a panic.
        if let Ok(text) = std::fs::read_to_string("/proc/cpuinfo") {
            let _ = select(&text);
        }
    }

    #[test]
    fn intel_counts_are_weighted_by_lanes() {
        // One of each: scalar 1, 128-bit double 2, 4-lane 4, 8-lane 8, 512-bit single 16; and
        // 10 L2 lines of 64 B.
        assert_eq!(weigh(&INTEL, &[1, 1, 1, 1, 1, 10], 128), (31, 640));
        // A 256-bit double FMA loop: 1e6 instructions counted twice by the hardware (2e6 in
        // 4_FLOPS) are 8e6 FLOPs; nothing else moved.
        assert_eq!(
            weigh(&INTEL, &[0, 0, 2_000_000, 0, 0, 0], 128),
            (8_000_000, 0)
        );
        assert_eq!(INTEL.events().count(), 6);
        assert!(INTEL.groups.iter().all(|g| g.len() <= 3), "fits 4 counters");
    }

    #[test]
    fn amd_counts_are_flops_already_and_fills_are_lines() {
        for t in [&AMD_ZEN1, &AMD_ZEN2, &AMD_ZEN4] {
            assert_eq!(weigh(t, &[1_000, 3], 128), (1_000, 192), "{}", t.name);
            assert!(t.events().all(|e| e.config & 0xff <= 0x44), "{}", t.name);
        }
    }

    #[test]
    fn arm_scalable_ops_follow_the_vector_length() {
        // 100 fixed, 10 scalable granules, 4 bus accesses.
        assert_eq!(weigh(&ARM, &[100, 10, 4], 128), (110, 256));
        assert_eq!(weigh(&ARM, &[100, 10, 4], 512), (140, 256));
        assert_eq!(weigh(&ARM, &[100, 10, 4], 2048), (260, 256));
    }

    #[test]
    fn weighing_saturates_instead_of_wrapping() {
        assert_eq!(weigh(&INTEL, &[0, 0, 0, 0, i64::MAX, 0], 128).0, i64::MAX);
    }
}
