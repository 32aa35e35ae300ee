//! Where this process and this thread are allowed to run.

use super::load::this_system;
use super::machine::os_indices;
use super::pin::is_collector_thread;
use hwlocality::cpu::binding::CpuBindingFlags;
use hwlocality::cpu::cpuset::CpuSet;
use hwlocality::object::types::ObjectType;
use hwlocality::topology::Topology;
use serde::{Deserialize, Serialize};

/// A CPU binding and what it covers, as OS indices. When hwloc failed, `error` says why and
/// the lists are empty (`bound` false then means unknown, not unbound).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    /// PUs the binding allows.
    pub pus: Vec<u32>,
    /// Cores with at least one of those PUs (core OS indices are unique within a package only).
    pub cores: Vec<u32>,
    /// Packages with at least one of those PUs.
    pub packages: Vec<u32>,
    /// NUMA nodes near those PUs.
    pub numa_nodes: Vec<u32>,
    /// PUs this process may use at all: hwloc's allowed cpuset, which is what a Slurm or
    /// container cgroup (cpuset controller) leaves it.
    pub allowed_pus: Vec<u32>,
    /// True when the binding is narrower than `allowed_pus` (a launcher or the program bound
    /// it); false when it may run anywhere it is allowed to.
    pub bound: bool,
    /// Why the binding could not be read; `None` when it was.
    #[serde(default)]
    pub error: Option<String>,
}

impl Binding {
    /// A binding that could not be read, with the reason.
    pub fn failed(reason: impl Into<String>) -> Self {
        Binding {
            error: Some(reason.into()),
            ..Default::default()
        }
    }
}

/// The binding of this process: the union of its threads' bindings (read per thread from
/// `/proc/self/task` on Linux), leaving out collector threads pinned by
/// [`pin_collector_thread`](super::pin_collector_thread), which would otherwise widen it.
/// Never fails: a failure is described in [`Binding::error`].
pub fn process_binding() -> Binding {
    match this_system().and_then(|t| Ok((t, threads_union(t, None)?))) {
        Ok((t, set)) => describe(t, &set),
        Err(e) => Binding::failed(e),
    }
}

/// The binding of another process `pid`: the union of its threads' bindings (read per thread
/// from `/proc/<pid>/task`), as `rankscope-run` records for a program it samples from outside.
/// Never fails: a failure (the process ended, not allowed) is described in [`Binding::error`].
pub fn pid_binding(pid: u32) -> Binding {
    match this_system().and_then(|t| Ok((t, pid_threads_union(t, pid)?))) {
        Ok((t, set)) => describe(t, &set),
        Err(e) => Binding::failed(e),
    }
}

/// The union of the bindings of the threads of process `pid`.
fn pid_threads_union(t: &Topology, pid: u32) -> Result<CpuSet, String> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .map_err(|e| format!("cannot list the threads of process {pid}: {e}"))?;
    let mut union = CpuSet::new();
    let mut read = 0;
    for tid in tasks.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok()) {
        if let Ok(set) = t.process_cpu_binding(tid, CpuBindingFlags::THREAD) {
            union |= &set;
            read += 1;
        }
    }
    if read == 0 {
        return Err(format!(
            "hwloc could read no thread binding of process {pid}"
        ));
    }
    Ok(union)
}

/// The binding of the calling thread.
pub fn thread_binding() -> Binding {
    let read = |t: &Topology| {
        t.cpu_binding(CpuBindingFlags::THREAD)
            .map_err(|e| format!("hwloc could not read this thread's binding: {e}"))
    };
    match this_system().and_then(|t| Ok((t, read(t)?))) {
        Ok((t, set)) => describe(t, &set),
        Err(e) => Binding::failed(e),
    }
}

/// The union of the bindings of this process's threads except collector threads and `skip`.
pub(super) fn threads_union(t: &Topology, skip: Option<u32>) -> Result<CpuSet, String> {
    #[cfg(target_os = "linux")]
    {
        let tasks = std::fs::read_dir("/proc/self/task")
            .map_err(|e| format!("cannot list this process's threads in /proc/self/task: {e}"))?;
        let mut union = CpuSet::new();
        let mut read = 0;
        for tid in tasks.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok()) {
            if Some(tid) == skip || is_collector_thread(tid) {
                continue;
            }
            // A thread may end between the listing and the read: skip it.
            if let Ok(set) = t.process_cpu_binding(tid, CpuBindingFlags::THREAD) {
                union |= &set;
                read += 1;
            }
        }
        if read > 0 {
            return Ok(union);
        }
    }
    // Elsewhere (or when no thread could be read): the process as hwloc sees it.
    let _ = skip;
    t.cpu_binding(CpuBindingFlags::PROCESS)
        .map_err(|e| format!("hwloc could not read this process's binding: {e}"))
}

/// The objects a cpuset covers and whether it is narrower than what is allowed.
pub(super) fn describe(t: &Topology, set: &CpuSet) -> Binding {
    let allowed = t.allowed_cpuset();
    let touching = |ty: ObjectType| -> Vec<u32> {
        let mut v: Vec<u32> = t
            .objects_with_type(ty)
            .filter(|o| o.cpuset().is_some_and(|s| s.intersects(set)))
            .filter_map(|o| o.os_index().map(|i| i as u32))
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    Binding {
        pus: set.iter_set().map(|i| usize::from(i) as u32).collect(),
        cores: touching(ObjectType::Core),
        packages: touching(ObjectType::Package),
        numa_nodes: touching(ObjectType::NUMANode),
        allowed_pus: os_indices(&allowed),
        bound: !set.includes(&*allowed),
        error: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_process_binding_as_its_threads_are_bound() {
        let mut child = std::process::Command::new("sleep")
            .arg("10")
            .spawn()
            .unwrap();
        let b = pid_binding(child.id());
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(b.error, None);
        // The child inherited this thread's binding.
        assert_eq!(b.pus, thread_binding().pus);
        let gone = pid_binding(child.id());
        assert!(
            gone.error.as_ref().is_some_and(|e| e.contains("process")),
            "{gone:?}"
        );
    }

    #[test]
    fn this_process_binding_lies_within_what_is_allowed() {
        let b = process_binding();
        assert_eq!(b.error, None);
        assert!(!b.pus.is_empty() && !b.cores.is_empty() && !b.packages.is_empty());
        assert!(!b.numa_nodes.is_empty());
        assert!(b.pus.iter().all(|p| b.allowed_pus.contains(p)), "{b:?}");
        assert_eq!(b.bound, b.pus.len() < b.allowed_pus.len());
    }

    #[test]
    fn thread_binding_matches_sched_getaffinity() {
        let b = thread_binding();
        // SAFETY: a zeroed cpu_set_t is valid; sched_getaffinity(0) fills it for this thread.
        let mut mask: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        let rc = unsafe {
            libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut mask)
        };
        assert_eq!(rc, 0);
        let kernel: Vec<u32> = (0..libc::CPU_SETSIZE as usize)
            .filter(|&i| unsafe { libc::CPU_ISSET(i, &mask) })
            .map(|i| i as u32)
            .collect();
        assert_eq!(b.pus, kernel);
    }
}
