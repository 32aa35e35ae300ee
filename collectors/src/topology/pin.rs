//! Pinning collector threads (such as a sampler) inside the rank's allowed cpuset, on a PU the
//! rank's own threads are not bound to when there is one, so that measuring disturbs the
//! measured threads as little as the machine allows. Never outside the allowed cpuset: a
//! Slurm cgroup forbids it anyway, and another job may own those PUs.

use super::binding::threads_union;
use super::load::this_system;
use super::machine::os_indices;
use hwlocality::cpu::binding::CpuBindingFlags;
use hwlocality::cpu::cpuset::CpuSet;
use hwlocality::object::types::ObjectType;
use hwlocality::topology::Topology;
use std::marker::PhantomData;
use std::sync::Mutex;

/// Kernel thread ids of the pinned collector threads, left out of the rank's binding.
static COLLECTORS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

pub(super) fn is_collector_thread(tid: u32) -> bool {
    COLLECTORS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains(&tid)
}

/// A collector thread pinned by [`pin_collector_thread`]. Kept by that thread: dropping it
/// (at the latest when the thread ends) counts the thread among the rank's threads again.
#[derive(Debug)]
pub struct PinnedThread {
    /// The PU (OS index) the thread is now bound to.
    pub pu: u32,
    /// True when none of the rank's other threads is bound to that PU; false when every
    /// allowed PU was taken and the collector shares one with the rank.
    pub free: bool,
    /// The PUs the rank is allowed to use (hwloc's allowed cpuset).
    pub allowed_pus: Vec<u32>,
    /// The PUs the rank's other threads are bound to.
    pub rank_pus: Vec<u32>,
    tid: u32,
    /// Tied to the thread it pinned: the registration names that thread.
    _not_send: PhantomData<*const ()>,
}

impl Drop for PinnedThread {
    fn drop(&mut self) {
        let mut tids = COLLECTORS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = tids.iter().position(|&t| t == self.tid) {
            tids.swap_remove(i);
        }
    }
}

/// Binds the calling thread, a collector's, to one PU chosen by [`choose_collector_pu`] from
/// hwloc's allowed cpuset and the bindings of the process's other threads, then reads the
/// binding back. Errors name what failed (hwloc, the binding call, a read-back that differs);
/// the thread is then left where it was.
pub fn pin_collector_thread() -> Result<PinnedThread, String> {
    let t = this_system()?;
    let tid = current_tid();
    let rank_set = threads_union(t, Some(tid))?;
    let allowed = os_indices(&t.allowed_cpuset());
    let rank_pus: Vec<u32> = rank_set.iter_set().map(|i| usize::from(i) as u32).collect();
    // PUs of the NUMA nodes the rank runs on: a collector there reads the rank's memory locally.
    let near: Vec<u32> = t
        .objects_with_type(ObjectType::NUMANode)
        .filter_map(|n| n.cpuset())
        .filter(|s| s.intersects(&rank_set))
        .flat_map(|s| os_indices(&s))
        .collect();
    let (pu, free) = choose_collector_pu(&allowed, &rank_pus, &near)
        .ok_or("hwloc's allowed cpuset is empty: nowhere to pin a collector thread")?;
    // Registered before binding: a concurrent read of the rank's binding must not see it.
    COLLECTORS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(tid);
    let pinned = PinnedThread {
        pu,
        free,
        allowed_pus: allowed,
        rank_pus,
        tid,
        _not_send: PhantomData,
    };
    bind_calling_thread(t, pu, "the collector thread")?;
    Ok(pinned)
}

/// Binds the calling thread to PU `pu` (an OS index), as a benchmark pins one thread per PU
/// (the roofline ceilings), and reads the binding back. Errors name the PU and what failed.
pub fn pin_thread_to_pu(pu: u32) -> Result<(), String> {
    bind_calling_thread(this_system()?, pu, "a thread")
}

/// Binds the calling thread (`who`, for messages) to PU `pu` and checks the binding reads back.
fn bind_calling_thread(t: &Topology, pu: u32, who: &str) -> Result<(), String> {
    let mut target = CpuSet::new();
    target.set(pu as usize);
    t.bind_cpu(&target, CpuBindingFlags::THREAD | CpuBindingFlags::STRICT)
        .map_err(|e| format!("hwloc could not bind {who} to PU {pu}: {e}"))?;
    let back = t
        .cpu_binding(CpuBindingFlags::THREAD)
        .map_err(|e| format!("hwloc could not read the binding of {who} back: {e}"))?;
    if back != target {
        return Err(format!(
            "{who} was bound to PU {pu} but reads back as {back}"
        ));
    }
    Ok(())
}

/// The PU for a collector thread: `(pu, free)`. From `allowed`, a PU not in `busy` (the rank's
/// threads' PUs) when there is one (`free` true), preferring PUs in `near` (the rank's NUMA
/// nodes); otherwise a PU of the rank's own. The highest such index: the rank's main thread
/// and the kernel's housekeeping tend to sit on the first PUs. `None` when `allowed` is empty.
pub fn choose_collector_pu(allowed: &[u32], busy: &[u32], near: &[u32]) -> Option<(u32, bool)> {
    let free = || allowed.iter().copied().filter(|p| !busy.contains(p));
    let shared = || allowed.iter().copied().filter(|p| busy.contains(p));
    free()
        .filter(|p| near.contains(p))
        .max()
        .or_else(|| free().max())
        .map(|p| (p, true))
        .or_else(|| shared().max().map(|p| (p, false)))
        .or_else(|| allowed.iter().copied().max().map(|p| (p, false)))
}

fn current_tid() -> u32 {
    // SAFETY: gettid has no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as u32 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::{process_binding, thread_binding};

    #[test]
    fn choice_prefers_a_free_pu_near_the_rank() {
        // Rank on PU 0 of node {0,1}; node {2,3} also allowed.
        assert_eq!(
            choose_collector_pu(&[0, 1, 2, 3], &[0], &[0, 1]),
            Some((1, true))
        );
        // Nothing free near it: a free PU elsewhere rather than sharing.
        assert_eq!(
            choose_collector_pu(&[0, 1, 2, 3], &[0, 1], &[0, 1]),
            Some((3, true))
        );
        // Everything taken: share one of the rank's PUs, never leave the allowed set.
        assert_eq!(
            choose_collector_pu(&[4, 5], &[4, 5, 6], &[]),
            Some((5, false))
        );
        assert_eq!(choose_collector_pu(&[], &[0], &[0]), None);
    }

    #[test]
    fn a_thread_pins_to_each_allowed_pu() {
        let allowed = process_binding().allowed_pus;
        for &pu in &allowed {
            let seen = std::thread::spawn(move || {
                pin_thread_to_pu(pu).expect("pinning works on the test machines");
                thread_binding().pus
            })
            .join()
            .unwrap();
            assert_eq!(seen, vec![pu]);
        }
        let past = allowed.iter().max().map_or(0, |m| m + 1000);
        let e = std::thread::spawn(move || pin_thread_to_pu(past))
            .join()
            .unwrap()
            .unwrap_err();
        assert!(e.contains(&format!("PU {past}")), "{e}");
    }

    #[test]
    fn a_pinned_thread_reads_its_binding_back() {
        let (pinned, seen) = std::thread::spawn(|| {
            let pinned = pin_collector_thread().expect("pinning works on the test machines");
            let seen = thread_binding();
            let fields = (
                pinned.pu,
                pinned.free,
                pinned.allowed_pus.clone(),
                pinned.rank_pus.clone(),
            );
            (fields, seen)
        })
        .join()
        .unwrap();
        let (pu, free, allowed, rank_pus) = pinned;
        assert_eq!(seen.pus, vec![pu]);
        assert!(
            allowed.contains(&pu),
            "PU {pu} outside the allowed {allowed:?}"
        );
        assert_eq!(free, !rank_pus.contains(&pu));
        // The collector ended (its registration dropped with it); the process binding is
        // read from the threads alive now, all inside the allowed set.
        let b = process_binding();
        assert!(b.pus.iter().all(|p| allowed.contains(p)));
    }
}
