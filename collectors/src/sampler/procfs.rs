//! Another process seen from outside through procfs, as psrecord sees it: its memory, CPU time
//! and high-water mark, and optionally those of every process it started (its process tree).
//!
//! Read per sample: `/proc/<pid>/statm` (virtual and resident size), `/proc/<pid>/stat` (state,
//! user and system time, and those of the children it waited for), `/proc/<pid>/status`
//! (`VmHWM`, the kernel's high-water mark of the resident size). The tree is found through
//! `/proc/<pid>/task/<tid>/children` (every thread's children), or, on a kernel built without
//! that file, by scanning `/proc/*/stat` for parent pids. Processes may end at any moment: a
//! file that vanishes between two reads leaves that process out of the point.

use crate::os::io::{keyed_value, parse_dec};
use std::collections::HashMap;
use std::fs;
use std::sync::OnceLock;

/// Clock ticks per second of `/proc/<pid>/stat` times (`sysconf(_SC_CLK_TCK)`, 100 on Linux).
fn ticks_per_second() -> i64 {
    static TICKS: OnceLock<i64> = OnceLock::new();
    // SAFETY: sysconf has no preconditions; it returns -1 only for unknown names.
    *TICKS.get_or_init(|| match unsafe { libc::sysconf(libc::_SC_CLK_TCK) } {
        n if n > 0 => crate::os::rusage::wide(n),
        _ => 100,
    })
}

/// What `/proc/<pid>/stat` says of one process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stat {
    /// One-letter state: `R`, `S`, `D`, `Z` (zombie: ended, not reaped), `X` (dead), ...
    pub state: u8,
    /// Parent pid.
    pub ppid: u32,
    /// User + system time of the process (all its threads), ns.
    pub cpu_ns: i64,
    /// User + system time of the children it waited for, ns.
    pub children_cpu_ns: i64,
}

impl Stat {
    /// Whether the process still runs (neither a zombie nor dead).
    pub fn running(&self) -> bool {
        !matches!(self.state, b'Z' | b'X' | b'x')
    }
}

/// Parses the contents of `/proc/<pid>/stat`: `pid (comm) state ppid ...`, where the command
/// name may hold spaces and parentheses, so fields are counted after the last `)`.
pub(crate) fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_ascii_whitespace().collect();
    // After the command: field 3 (state) is f[0], so field n is f[n - 3].
    let num = |n: usize| f.get(n - 3)?.parse::<i64>().ok();
    let ticks = |a: usize, b: usize| Some((num(a)? + num(b)?) * 1_000_000_000 / ticks_per_second());
    Some(Stat {
        state: *f.first()?.as_bytes().first()?,
        ppid: u32::try_from(num(4)?).ok()?,
        cpu_ns: ticks(14, 15)?,
        children_cpu_ns: ticks(16, 17)?,
    })
}

/// `/proc/<pid>/stat` of a process, `None` when it is gone or unreadable.
pub(crate) fn stat(pid: u32) -> Option<Stat> {
    parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Virtual and resident size in bytes, from `/proc/<pid>/statm`.
pub(crate) fn statm(pid: u32) -> Option<(i64, i64)> {
    let text = fs::read(format!("/proc/{pid}/statm")).ok()?;
    let mut fields = text.split(|b| *b == b' ');
    let size = fields.next().and_then(parse_dec)?;
    let resident = fields.next().and_then(parse_dec)?;
    let page = crate::os::memory::page_size();
    Some((size * page, resident * page))
}

/// The kernel's high-water mark of the resident size in bytes (`VmHWM` of
/// `/proc/<pid>/status`); `None` for a kernel thread, a zombie or a vanished process.
pub(crate) fn vm_hwm(pid: u32) -> Option<i64> {
    let text = fs::read(format!("/proc/{pid}/status")).ok()?;
    keyed_value(&text, b"VmHWM").map(|kib| kib * 1024)
}

/// Whether process `pid` exists and still runs (a zombie has ended: its parent has not reaped
/// it yet).
pub fn alive(pid: u32) -> bool {
    stat(pid).is_some_and(|s| s.running())
}

/// The direct children of `pid`: what every thread's `/proc/<pid>/task/<tid>/children` lists
/// (a child is listed under the thread that started it). Empty when the process is gone.
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut kids = Vec::new();
    for tid in tasks.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok()) {
        if let Ok(text) = fs::read_to_string(format!("/proc/{pid}/task/{tid}/children")) {
            kids.extend(
                text.split_ascii_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
    }
    kids
}

/// Whether this kernel lacks `/proc/<pid>/task/<tid>/children` (checked once, on ourselves).
fn children_file_missing() -> bool {
    static MISSING: OnceLock<bool> = OnceLock::new();
    *MISSING.get_or_init(|| {
        let me = std::process::id();
        !std::path::Path::new(&format!("/proc/{me}/task/{me}/children")).exists()
    })
}

/// Every process of the tree rooted at `root` (itself first), found by parent pid in
/// `/proc/*/stat` (the fallback when `children` files are missing).
fn tree_by_scan(root: u32) -> Vec<u32> {
    let mut parent: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(dir) = fs::read_dir("/proc") {
        for pid in dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok()) {
            if let Some(s) = stat(pid) {
                parent.entry(s.ppid).or_default().push(pid);
            }
        }
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        if let Some(kids) = parent.get(&tree[i]) {
            tree.extend(kids.iter().copied().filter(|k| *k != root));
        }
        i += 1;
    }
    tree
}

/// Every process of the tree rooted at `root`: itself first, then its descendants (children
/// before grandchildren). Processes that end while it is walked are left out or kept as
/// found; the caller reads each and skips those gone.
pub fn process_tree(root: u32) -> Vec<u32> {
    if children_file_missing() {
        return tree_by_scan(root);
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        for k in children_of(tree[i]) {
            // A pid listed twice (reused while walking) is read once.
            if !tree.contains(&k) {
                tree.push(k);
            }
        }
        i += 1;
    }
    tree
}

/// One reading of a process or of its tree.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Reading {
    /// Sum of the resident sizes, bytes.
    pub rss: i64,
    /// Sum of the virtual sizes, bytes.
    pub virtual_size: i64,
    /// Largest kernel high-water mark of one process, bytes.
    pub hwm: i64,
    /// CPU time of the tree so far, ns: every live process's own time plus that of the
    /// children it waited for (so that a child's time is counted once, before and after it is
    /// reaped).
    pub cpu_ns: i64,
    /// Processes read.
    pub processes: u32,
}

/// Reads `pid` (with `tree`, also every descendant). `None` when the root process is gone.
pub(crate) fn read(pid: u32, tree: bool) -> Option<Reading> {
    let root = stat(pid)?;
    let pids = if tree { process_tree(pid) } else { vec![pid] };
    let mut r = Reading::default();
    for (i, p) in pids.into_iter().enumerate() {
        let s = if i == 0 { Some(root) } else { stat(p) };
        let Some(s) = s else { continue };
        r.cpu_ns += s.cpu_ns + s.children_cpu_ns;
        r.processes += 1;
        if let Some((size, resident)) = statm(p) {
            r.virtual_size += size;
            r.rss += resident;
        }
        if let Some(hwm) = vm_hwm(p) {
            r.hwm = r.hwm.max(hwm);
        }
    }
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let tick = 1_000_000_000 / ticks_per_second();
        let line =
            "4242 (a (weird) name) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 1 0";
        let s = parse_stat(line).unwrap();
        assert_eq!(s.state, b'S');
        assert_eq!(s.ppid, 17);
        assert_eq!(s.cpu_ns, 300 * tick);
        assert_eq!(s.children_cpu_ns, 10 * tick);
        assert!(s.running());
        assert!(!parse_stat(&line.replace(") S", ") Z")).unwrap().running());
        assert_eq!(parse_stat("12 (x) R 1"), None);
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn this_process_from_outside() {
        let me = std::process::id();
        assert!(alive(me));
        let r = read(me, false).unwrap();
        assert!(r.rss > 1 << 20 && r.virtual_size >= r.rss, "{r:?}");
        assert!(r.hwm >= r.rss / 2, "{r:?}");
        assert_eq!(r.processes, 1);
        assert!(!alive(u32::MAX - 1));
        assert_eq!(read(u32::MAX - 1, true), None);
    }

    #[test]
    fn the_tree_holds_children_and_grandchildren() {
        use std::os::unix::process::CommandExt;
        // sh starts a sleep (child) and another sh that starts a sleep (grandchild), all in a
        // process group of their own so that one kill ends them all.
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & sh -c 'sleep 30 & wait' & wait"])
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = child.id();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut tree = process_tree(pid);
        while tree.len() < 4 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
            tree = process_tree(pid);
        }
        let mut scanned = tree_by_scan(pid);
        let whole = read(pid, true).unwrap();
        let alone = read(pid, false).unwrap();
        // SAFETY: kill has no memory preconditions; the group is the one made above.
        unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
        let _ = child.wait();
        assert_eq!(tree.len(), 4, "{tree:?}");
        assert_eq!(tree[0], pid);
        assert_eq!(whole.processes, 4);
        assert!(whole.rss > alone.rss, "{whole:?} {alone:?}");
        // The fallback (a scan of /proc) finds the same tree.
        let mut sorted = tree.clone();
        sorted.sort_unstable();
        scanned.sort_unstable();
        assert_eq!(scanned, sorted);
    }
}
