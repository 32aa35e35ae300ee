//! This process's identity as a rank column: rank, host, pid and where it is bound to run.

use crate::profile::RankInfo;
use rankscope_collectors::monotonic_ns;
use rankscope_collectors::topology::process_binding;
use std::sync::OnceLock;

/// The host name from `gethostname(2)`; empty when it cannot be read.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the pointer and length describe `buf`, which outlives the call; gethostname writes
    // at most `len` bytes and we stop at the first NUL (or the end when it truncated).
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Rank, host, pid and CPU binding of this process. The binding is read now (hwloc; a
/// failure is recorded with its reason in the binding), so a profile taken at the end of the
/// run shows where the rank was bound then.
pub fn rank_info(rank: u32) -> RankInfo {
    RankInfo {
        rank,
        hostname: hostname(),
        pid: std::process::id(),
        binding: Some(process_binding()),
        samples: None,
        clock_offset_ns: Some(clock_offset_ns()),
    }
}

/// Realtime minus monotonic clock, ns, measured once per process (at the first call): the
/// realtime clock read between two monotonic reads and set against their midpoint (the error is
/// half the gap, well under a microsecond). Once, so that every profile of the process carries
/// the same offset (a reduction and a gather of the same data agree) and every timeline entry
/// is shifted alike.
pub fn clock_offset_ns() -> i64 {
    static OFFSET: OnceLock<i64> = OnceLock::new();
    *OFFSET.get_or_init(measure_clock_offset_ns)
}

fn measure_clock_offset_ns() -> i64 {
    let before = monotonic_ns();
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64);
    let after = monotonic_ns();
    unix - (before + (after - before) / 2)
}
