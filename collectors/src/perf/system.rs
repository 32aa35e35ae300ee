//! What this machine allows, read once per process, and why an event failed to open.

use super::events::Event;
use std::io;
use std::sync::OnceLock;

/// Where the kernel lists its PMUs (one folder each, with the PMU's `type` number).
const PMU_DEVICES: &str = "/sys/bus/event_source/devices";
const PARANOID: &str = "/proc/sys/kernel/perf_event_paranoid";
/// Capability bits (include/uapi/linux/capability.h).
const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;

/// Facts about perf_event on this machine, read once.
#[derive(Clone, Debug)]
pub(crate) struct System {
    /// A core PMU is registered: some device has the type PERF_TYPE_RAW (`cpu` on x86,
    /// `cpu_core` on hybrid Intel, `armv8_pmuv3_0` on ARM).
    pub core_pmu: Option<String>,
    /// `/proc/sys/kernel/perf_event_paranoid`, when readable.
    pub paranoid: Option<i32>,
    /// The effective capabilities include CAP_PERFMON or CAP_SYS_ADMIN (root).
    pub privileged: bool,
}

impl System {
    fn read() -> System {
        let core_pmu = std::fs::read_dir(PMU_DEVICES).ok().and_then(|dir| {
            dir.flatten()
                .find(|d| {
                    std::fs::read_to_string(d.path().join("type"))
                        .is_ok_and(|t| t.trim() == super::events::TYPE_RAW.to_string())
                })
                .map(|d| d.file_name().to_string_lossy().into_owned())
        });
        let paranoid = std::fs::read_to_string(PARANOID)
            .ok()
            .and_then(|t| t.trim().parse().ok());
        let caps = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("CapEff:"))
                    .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
            })
            .unwrap_or(0);
        let has = |bit: u32| caps & (1 << bit) != 0;
        System {
            core_pmu,
            paranoid,
            privileged: has(CAP_PERFMON) || has(CAP_SYS_ADMIN),
        }
    }

    /// Kernel-side counting is allowed: perf_event_paranoid 1 or lower, or the capability.
    /// Otherwise events count user space only (`exclude_kernel`), as `perf stat` does then.
    pub fn kernel_allowed(&self) -> bool {
        self.privileged || self.paranoid.is_some_and(|p| p <= 1)
    }

    /// What the counts cover, for descriptions.
    pub fn scope(&self) -> String {
        if self.kernel_allowed() {
            "user and kernel space".to_string()
        } else {
            format!(
                "user space only (perf_event_paranoid {}, no CAP_PERFMON)",
                paranoid_text(self.paranoid)
            )
        }
    }

    /// Why `event` cannot be counted at all here, before trying: a kernel-only event while
    /// the kernel may not be counted.
    pub fn refuse(&self, event: Event) -> Option<String> {
        (event.kernel_only() && !self.kernel_allowed()).then(|| {
            format!(
                "kernel-only event: '{}' happens in the kernel, and perf_event_paranoid is {} \
                 without CAP_PERFMON (user-space counting only): it would always read 0; \
                 counting the kernel needs perf_event_paranoid 1 or lower (sysctl \
                 kernel.perf_event_paranoid=1) or CAP_PERFMON",
                event.name(),
                paranoid_text(self.paranoid)
            )
        })
    }

    /// Why opening `event` failed with `err`, for people: the cause first (no PMU,
    /// permissions, unsupported), then the errno.
    pub fn reason(&self, event: Event, err: &io::Error) -> String {
        let errno = err.raw_os_error().unwrap_or(0);
        let code = errno_name(errno);
        let pmu_error = matches!(errno, libc::ENOENT | libc::EOPNOTSUPP | libc::ENODEV);
        match errno {
            _ if pmu_error && event.spec().needs_pmu() && self.core_pmu.is_none() => format!(
                "no PMU: the kernel exposes no hardware performance counters (no \
                 {PMU_DEVICES}/cpu: a virtual machine without a virtual PMU?) ({code})"
            ),
            _ if pmu_error => format!(
                "unsupported event: {} has no '{}' ({code})",
                self.core_pmu
                    .as_deref()
                    .map_or("the kernel".to_string(), |p| format!(
                        "this CPU's PMU ({p})"
                    )),
                event.name()
            ),
            libc::EACCES | libc::EPERM
                if self.privileged || self.paranoid.is_some_and(|p| p <= 2) =>
            {
                format!(
                    "not permitted although perf_event_paranoid is {}{}: a seccomp filter (a \
                     container's default profile) or a security module blocks \
                     perf_event_open ({code})",
                    paranoid_text(self.paranoid),
                    if self.privileged {
                        " and the process has CAP_PERFMON"
                    } else {
                        ""
                    }
                )
            }
            libc::EACCES | libc::EPERM => format!(
                "not permitted: perf_event_paranoid is {} and the process lacks CAP_PERFMON; \
                 counting this process needs perf_event_paranoid 2 or lower (sysctl \
                 kernel.perf_event_paranoid=2) or CAP_PERFMON ({code})",
                paranoid_text(self.paranoid)
            ),
            libc::EINVAL if event.spec().needs_pmu() => {
                format!("invalid event for this PMU, or too many events to count together ({code})")
            }
            libc::ENOSYS => format!("the kernel has no perf_event support ({code})"),
            libc::EMFILE | libc::ENFILE => format!("too many open files ({code})"),
            libc::EBUSY => format!(
                "the counter is taken by another user (NMI watchdog, another profiler) ({code})"
            ),
            _ => format!("{err} ({code})"),
        }
    }
}

/// The machine's facts, read at the first call.
pub(crate) fn system() -> &'static System {
    static FACTS: OnceLock<System> = OnceLock::new();
    FACTS.get_or_init(System::read)
}

fn paranoid_text(p: Option<i32>) -> String {
    p.map_or("unknown".to_string(), |p| p.to_string())
}

/// The errno's symbolic name (`ENOENT`), or its number.
pub(crate) fn errno_name(errno: i32) -> String {
    let name = match errno {
        libc::ENOENT => "ENOENT",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::ENODEV => "ENODEV",
        libc::EACCES => "EACCES",
        libc::EPERM => "EPERM",
        libc::EINVAL => "EINVAL",
        libc::ENOSYS => "ENOSYS",
        libc::EMFILE => "EMFILE",
        libc::ENFILE => "ENFILE",
        libc::EBUSY => "EBUSY",
        libc::E2BIG => "E2BIG",
        libc::ESRCH => "ESRCH",
        0 => return "no errno".to_string(),
        n => return format!("errno {n}"),
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::perf::events::parse;

    fn sys(core_pmu: bool, paranoid: i32, privileged: bool) -> System {
        System {
            core_pmu: core_pmu.then(|| "cpu".to_string()),
            paranoid: Some(paranoid),
            privileged,
        }
    }

    #[test]
    fn reasons_name_the_cause_and_the_errno() {
        let cycles = parse("cycles").unwrap();
        let enoent = io::Error::from_raw_os_error(libc::ENOENT);
        let r = sys(false, 2, true).reason(cycles, &enoent);
        assert!(r.starts_with("no PMU: ") && r.ends_with("(ENOENT)"), "{r}");
        let r = sys(true, 2, true).reason(cycles, &enoent);
        assert!(
            r.starts_with("unsupported event: this CPU's PMU (cpu) has no 'cycles'"),
            "{r}"
        );
        let eacces = io::Error::from_raw_os_error(libc::EACCES);
        let r = sys(true, 3, false).reason(cycles, &eacces);
        assert!(r.contains("perf_event_paranoid is 3"), "{r}");
        assert!(
            r.contains("perf_event_paranoid 2 or lower") && r.contains("CAP_PERFMON"),
            "{r}"
        );
        let r = sys(true, 2, false).reason(cycles, &io::Error::from_raw_os_error(libc::EPERM));
        assert!(r.contains("seccomp") && r.ends_with("(EPERM)"), "{r}");
        let r = sys(true, 2, true).reason(
            parse("r01c7").unwrap(),
            &io::Error::from_raw_os_error(libc::EINVAL),
        );
        assert!(
            r.starts_with("invalid event") && r.ends_with("(EINVAL)"),
            "{r}"
        );
    }

    #[test]
    fn kernel_counting_follows_paranoid_and_capabilities() {
        assert!(sys(true, 1, false).kernel_allowed());
        assert!(sys(true, 2, true).kernel_allowed());
        let user_only = sys(true, 2, false);
        assert!(!user_only.kernel_allowed());
        assert!(user_only
            .scope()
            .starts_with("user space only (perf_event_paranoid 2"));
        let cs = parse("cs").unwrap();
        let r = user_only.refuse(cs).unwrap();
        assert!(r.contains("kernel.perf_event_paranoid=1"), "{r}");
        assert!(user_only.refuse(parse("page-faults").unwrap()).is_none());
        assert!(sys(true, 1, false).refuse(cs).is_none());
    }
}
