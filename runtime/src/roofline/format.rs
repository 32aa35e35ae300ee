//! The ceilings document (`rankscope-ceilings/1`): what `rankscope roofline ceilings --json`
//! prints, the per-host cache holds, `ceilings.json` in an output folder holds, and the
//! roofline plot reads. docs/roofline.md describes every key.

use serde::{Deserialize, Serialize};

/// The `format` value this version writes and reads.
pub const FORMAT: &str = "rankscope-ceilings/1";

/// One document: one entry per host that took part.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ceilings {
    /// Always [`FORMAT`].
    pub format: String,
    /// One entry per host, in the order of the lowest world rank on each.
    pub hosts: Vec<HostCeilings>,
}

impl Ceilings {
    /// A document of these hosts.
    pub fn new(hosts: Vec<HostCeilings>) -> Ceilings {
        Ceilings {
            format: FORMAT.to_string(),
            hosts,
        }
    }

    /// The entry of `host`, if any.
    pub fn host(&self, host: &str) -> Option<&HostCeilings> {
        self.hosts.iter().find(|h| h.host == host)
    }

    /// Parses a document, checking its format; the error says what was expected.
    pub fn parse(text: &str) -> Result<Ceilings, String> {
        let doc: Ceilings = serde_json::from_str(text)
            .map_err(|e| format!("not a rankscope ceilings document ({FORMAT} JSON): {e}"))?;
        if doc.format != FORMAT {
            return Err(format!(
                "format '{}' is not {FORMAT}, the one this version reads",
                doc.format
            ));
        }
        Ok(doc)
    }

    /// The document as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("plain data serialises")
    }
}

/// The ceilings of one host.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostCeilings {
    /// Host name (`gethostname`).
    pub host: String,
    /// When it was measured, RFC 3339 in UTC.
    pub date: String,
    /// CPU model name (hwloc's `CPUModel`); empty when unknown.
    pub cpu: String,
    /// Instruction set of the kernels: `avx512`, `avx2+fma`, `sse2`, `neon`, `scalar`.
    pub isa: String,
    /// Threads that ran, all ranks of the host together.
    pub threads: u32,
    /// Ranks of the host that took part.
    pub ranks: u32,
    /// A short sweep (`--quick`): fewer sizes and trials, for tests and examples.
    pub quick: bool,
    /// Load-kernel GB/s of each level's plateau (`null` for a level the machine lacks or that
    /// could not be measured).
    pub bandwidth_gbs: Levels,
    /// GB/s of each kernel per level.
    pub kernels: Kernels,
    /// Peak GFLOP/s of the multiply-add kernels, all threads of the host together.
    pub peak_gflops: Peaks,
    /// Per-thread capacity of each cache level (bytes) the sweep's levels were read against:
    /// a cache's size divided among the threads that share it.
    pub cache_bytes: CacheBytes,
    /// Median GB/s per working-set size and kernel; `bytes` is the working set of one thread.
    pub sweep: Vec<SweepPoint>,
    /// What the numbers need said beside them (a level without a flat plateau, ranks
    /// oversubscribed, threads that could not be pinned, ...).
    #[serde(default)]
    pub notes: Vec<String>,
}

/// One value per memory level.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Levels {
    /// Working sets in L1.
    pub l1: Option<f64>,
    /// Working sets in L2.
    pub l2: Option<f64>,
    /// Working sets in L3 (`null` without an L3).
    pub l3: Option<f64>,
    /// Working sets far larger than the last cache.
    pub dram: Option<f64>,
}

/// GB/s per level of each bandwidth kernel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Kernels {
    /// Reads one array.
    pub load: Levels,
    /// Reads one array and writes another.
    pub copy: Levels,
    /// `a = b + s * c`.
    pub triad: Levels,
}

/// Peak GFLOP/s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Peaks {
    /// Full-width vectors of `f64`.
    pub vector_double: f64,
    /// Full-width vectors of `f32`.
    pub vector_single: f64,
    /// One `f64` per instruction.
    pub scalar_double: f64,
    /// One `f32` per instruction.
    pub scalar_single: f64,
}

/// Per-thread cache capacities, bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheBytes {
    /// L1 data cache per thread.
    pub l1: u64,
    /// L2 per thread.
    pub l2: u64,
    /// L3 per thread; `null` without an L3.
    pub l3: Option<u64>,
}

/// One point of the sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    /// Working set of one thread, bytes.
    pub bytes: u64,
    /// `load`, `copy` or `triad`.
    pub kernel: String,
    /// Median over the trials, all threads of the host together.
    pub gbs: f64,
}

/// `YYYY-MM-DDTHH:MM:SSZ` of a time.
pub fn rfc3339(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = crate::output::civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample_host(host: &str, quick: bool) -> HostCeilings {
        let levels = Levels {
            l1: Some(160.0),
            l2: Some(90.0),
            l3: None,
            dram: Some(15.5),
        };
        HostCeilings {
            host: host.into(),
            date: "2026-12-02T10:00:00Z".into(),
            cpu: "AMD EPYC".into(),
            isa: "avx2+fma".into(),
            threads: 2,
            ranks: 1,
            quick,
            bandwidth_gbs: levels,
            kernels: Kernels {
                load: levels,
                copy: levels,
                triad: levels,
            },
            peak_gflops: Peaks {
                vector_double: 85.0,
                vector_single: 170.0,
                scalar_double: 21.0,
                scalar_single: 21.0,
            },
            cache_bytes: CacheBytes {
                l1: 32 << 10,
                l2: 512 << 10,
                l3: None,
            },
            sweep: vec![SweepPoint {
                bytes: 4096,
                kernel: "load".into(),
                gbs: 150.0,
            }],
            notes: vec![],
        }
    }

    #[test]
    fn round_trip_keeps_every_field_and_null_levels() {
        let doc = Ceilings::new(vec![sample_host("a", false), sample_host("b", true)]);
        let text = doc.to_json();
        assert_eq!(Ceilings::parse(&text).unwrap(), doc);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["format"], FORMAT);
        let h = &v["hosts"][0];
        assert!(h["bandwidth_gbs"]["l3"].is_null());
        assert_eq!(h["bandwidth_gbs"]["dram"], 15.5);
        assert_eq!(h["peak_gflops"]["vector_double"], 85.0);
        assert_eq!(h["kernels"]["triad"]["l1"], 160.0);
        assert_eq!(h["sweep"][0]["kernel"], "load");
        assert!(doc.host("b").unwrap().quick);
    }

    #[test]
    fn parse_names_what_was_expected() {
        let e = Ceilings::parse("{\"nodes\": []}").unwrap_err();
        assert!(e.contains(FORMAT), "{e}");
        let mut doc = Ceilings::new(vec![]);
        doc.format = "rankscope-ceilings/9".into();
        let e = Ceilings::parse(&doc.to_json()).unwrap_err();
        assert!(
            e.contains("rankscope-ceilings/9") && e.contains(FORMAT),
            "{e}"
        );
    }

    #[test]
    fn dates_are_rfc3339_utc() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_796_205_600);
        assert_eq!(rfc3339(t), "2026-12-02T10:00:00Z");
    }
}
