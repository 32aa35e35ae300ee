//! The machine summary: what `lstopo` shows, reduced to what explains a profile (how many
//! packages, cores, PUs and NUMA nodes, their nesting, the caches per level, the CPU model).

use super::load::topology;
use hwlocality::bitmap::BitmapRef;
use hwlocality::cpu::cpuset::CpuSet;
use hwlocality::object::attributes::ObjectAttributes;
use hwlocality::object::types::{CacheType, ObjectType};
use hwlocality::object::TopologyObject;
use hwlocality::topology::Topology;
use serde::{Deserialize, Serialize};

/// One machine's topology, the same for every rank on it (disallowed PUs included).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineSummary {
    /// CPU model as the processor names itself (`Intel(R) Xeon(R) ...`); empty when unknown.
    pub cpu_model: String,
    /// Number of packages (sockets).
    pub packages: u32,
    /// Number of cores.
    pub cores: u32,
    /// Number of processing units (hardware threads).
    pub pus: u32,
    /// Number of NUMA nodes.
    pub numa_nodes: u32,
    /// Memory of all NUMA nodes, bytes.
    pub memory_bytes: u64,
    /// One entry per cache level and kind (L1d, L1i, L2, L3), nearest the cores first.
    pub caches: Vec<CacheLevel>,
    /// Packages with their cores and each core's PUs (OS indices).
    pub package_layout: Vec<PackageLayout>,
    /// NUMA nodes with their memory and PUs (OS indices).
    pub numa_layout: Vec<NumaLayout>,
}

/// All caches of one level and kind.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheLevel {
    /// 1 for L1, 2 for L2, ...
    pub level: u32,
    /// `data`, `instruction` or `unified`.
    pub kind: String,
    /// Size of one cache, bytes (0 when hwloc does not know it).
    pub size_bytes: u64,
    /// Line size, bytes (0 when unknown).
    pub line_bytes: u32,
    /// How many caches of this level and kind the machine has.
    pub count: u32,
    /// PUs sharing one cache (of the first one: caches of a level are usually alike).
    pub pus_per_cache: u32,
}

/// One package (socket).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageLayout {
    /// OS index of the package (`P#` in lstopo, `physical id` in /proc/cpuinfo).
    pub os_index: u32,
    /// Its cores.
    pub cores: Vec<CoreLayout>,
}

/// One core.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoreLayout {
    /// OS index of the core (`core id` in /proc/cpuinfo: unique within its package only).
    pub os_index: u32,
    /// OS indices of its PUs.
    pub pus: Vec<u32>,
}

/// One NUMA node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NumaLayout {
    /// OS index of the node (as in `numactl -H`).
    pub os_index: u32,
    /// Its local memory, bytes.
    pub memory_bytes: u64,
    /// OS indices of the PUs near it.
    pub pus: Vec<u32>,
}

/// This machine's summary, or why hwloc could not describe it.
pub fn machine() -> Result<MachineSummary, String> {
    let t = topology()?;
    let package_layout = packages(t);
    let numa_layout: Vec<NumaLayout> = t
        .objects_with_type(ObjectType::NUMANode)
        .map(|n| NumaLayout {
            os_index: os_index(n),
            memory_bytes: match n.attributes() {
                Some(ObjectAttributes::NUMANode(a)) => a.local_memory().map_or(0, |m| m.get()),
                _ => 0,
            },
            pus: n.cpuset().map(|s| os_indices(&s)).unwrap_or_default(),
        })
        .collect();
    Ok(MachineSummary {
        cpu_model: cpu_model(t),
        packages: package_layout.len() as u32,
        cores: t.objects_with_type(ObjectType::Core).len() as u32,
        pus: t.objects_with_type(ObjectType::PU).len() as u32,
        numa_nodes: numa_layout.len() as u32,
        memory_bytes: numa_layout.iter().map(|n| n.memory_bytes).sum(),
        caches: caches(t),
        package_layout,
        numa_layout,
    })
}

/// Packages, cores and PUs. A machine without Package or Core objects (some virtual machines,
/// some architectures) is described as one package of one-PU cores rather than not at all.
fn packages(t: &Topology) -> Vec<PackageLayout> {
    let core_of = |c: &TopologyObject| CoreLayout {
        os_index: os_index(c),
        pus: c.cpuset().map(|s| os_indices(&s)).unwrap_or_default(),
    };
    let mut out: Vec<PackageLayout> = t
        .objects_with_type(ObjectType::Package)
        .map(|p| PackageLayout {
            os_index: os_index(p),
            cores: t
                .objects_with_type(ObjectType::Core)
                .filter(|c| {
                    c.first_ancestor_with_type(ObjectType::Package)
                        .is_some_and(|a| a.global_persistent_index() == p.global_persistent_index())
                })
                .map(core_of)
                .collect(),
        })
        .collect();
    let placed: usize = out.iter().map(|p| p.cores.len()).sum();
    if placed < t.objects_with_type(ObjectType::Core).len() || out.is_empty() {
        let mut cores: Vec<CoreLayout> =
            t.objects_with_type(ObjectType::Core).map(core_of).collect();
        if cores.is_empty() {
            cores = t
                .objects_with_type(ObjectType::PU)
                .map(|pu| CoreLayout {
                    os_index: os_index(pu),
                    pus: vec![os_index(pu)],
                })
                .collect();
        }
        out = vec![PackageLayout { os_index: 0, cores }];
    }
    out
}

/// One entry per (level, kind), in the order hwloc lists cache types (L1d, L1i, L2, ...).
fn caches(t: &Topology) -> Vec<CacheLevel> {
    let mut out: Vec<CacheLevel> = Vec::new();
    let mut kinds: Vec<ObjectType> = t
        .objects()
        .map(TopologyObject::object_type)
        .filter(|ty| ty.is_cpu_cache())
        .collect();
    kinds.dedup();
    kinds.sort_by_key(|ty| cache_order(*ty));
    kinds.dedup();
    for ty in kinds {
        let all: Vec<&TopologyObject> = t.objects_with_type(ty).collect();
        let Some(first) = all.first() else { continue };
        let Some(ObjectAttributes::Cache(a)) = first.attributes() else {
            continue;
        };
        out.push(CacheLevel {
            level: a.depth() as u32,
            kind: match a.cache_type() {
                CacheType::Data => "data",
                CacheType::Instruction => "instruction",
                _ => "unified",
            }
            .into(),
            size_bytes: a.size().map_or(0, |s| s.get()),
            line_bytes: a.line_size().map_or(0, |s| s.get() as u32),
            count: all.len() as u32,
            pus_per_cache: first.cpuset().and_then(|s| s.weight()).unwrap_or(0) as u32,
        });
    }
    out
}

/// Level first, then data before instruction before unified.
fn cache_order(ty: ObjectType) -> (u32, u32) {
    match ty {
        ObjectType::L1Cache => (1, 0),
        ObjectType::L1ICache => (1, 1),
        ObjectType::L2Cache => (2, 0),
        ObjectType::L2ICache => (2, 1),
        ObjectType::L3Cache => (3, 0),
        ObjectType::L3ICache => (3, 1),
        ObjectType::L4Cache => (4, 0),
        ObjectType::L5Cache => (5, 0),
        _ => (9, 9),
    }
}

/// The `CPUModel` hwloc found (on the packages on Linux, on the root elsewhere).
fn cpu_model(t: &Topology) -> String {
    t.objects_with_type(ObjectType::Package)
        .chain(std::iter::once(t.root_object()))
        .find_map(|o| o.info("CPUModel"))
        .map(|m| m.to_string_lossy().trim().to_string())
        .unwrap_or_default()
}

fn os_index(o: &TopologyObject) -> u32 {
    o.os_index().map_or(u32::MAX, |i| i as u32)
}

/// The OS indices of the PUs in a cpuset (a cpuset's bits are PU OS indices).
pub(super) fn os_indices(set: &BitmapRef<'_, CpuSet>) -> Vec<u32> {
    set.iter_set().map(|i| usize::from(i) as u32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_is_consistent_with_itself() {
        let m = machine().expect("hwloc loads on the test machines");
        assert!(m.pus >= 1 && m.cores >= 1 && m.packages >= 1, "{m:?}");
        assert!(m.cores <= m.pus);
        let laid_out: Vec<u32> = m
            .package_layout
            .iter()
            .flat_map(|p| &p.cores)
            .flat_map(|c| c.pus.iter().copied())
            .collect();
        assert_eq!(laid_out.len() as u32, m.pus, "every PU in exactly one core");
        assert_eq!(
            m.package_layout
                .iter()
                .map(|p| p.cores.len())
                .sum::<usize>() as u32,
            m.cores
        );
        for w in m.caches.windows(2) {
            assert!(
                w[0].level <= w[1].level,
                "caches nearest first: {:?}",
                m.caches
            );
        }
        // Through serde and back unchanged (the runtime stores it as JSON metadata).
        let text = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<MachineSummary>(&text).unwrap(), m);
    }
}
