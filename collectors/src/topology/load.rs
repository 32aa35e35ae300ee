//! The one hwloc topology of this process, loaded on first use.

use hwlocality::topology::builder::{BuildFlags, TypeFilter};
use hwlocality::topology::Topology;
use std::sync::OnceLock;

static TOPOLOGY: OnceLock<Result<Topology, String>> = OnceLock::new();

/// This machine's topology, or why hwloc could not load it.
pub(super) fn topology() -> Result<&'static Topology, String> {
    TOPOLOGY.get_or_init(load).as_ref().map_err(Clone::clone)
}

/// The topology, but only when it describes the machine this process runs on: bindings read
/// or set through a topology of another machine would be meaningless.
pub(super) fn this_system() -> Result<&'static Topology, String> {
    let t = topology()?;
    if t.is_this_system() {
        Ok(t)
    } else {
        Err(
            "hwloc's topology does not describe this machine (HWLOC_XMLFILE, HWLOC_SYNTHETIC or \
             HWLOC_FSROOT set?), so bindings cannot be read or set"
                .into(),
        )
    }
}

fn load() -> Result<Topology, String> {
    // Disallowed PUs included: the machine summary is the whole machine whatever cgroup this
    // rank is confined to (it is stored once per host, shared by ranks in different cgroups),
    // and the allowed cpuset is then a real subset of it.
    Topology::builder()
        .with_flags(BuildFlags::INCLUDE_DISALLOWED)
        .map_err(|e| format!("hwloc refused the topology flags: {e}"))?
        // hwloc leaves instruction caches out unless asked; lstopo asks, and so do we.
        .with_cpu_icache_type_filter(TypeFilter::KeepAll)
        .map_err(|e| format!("hwloc refused to keep instruction caches: {e}"))?
        .build()
        .map_err(|e| format!("hwloc could not load this machine's topology: {e}"))
}
