//! Bytes the process moved through read and write system calls, from `/proc/self/io`, and the
//! small procfs reader the memory collectors share.
//!
//! We report `rchar`/`wchar` (bytes passed to read/write-like system calls, page cache or not)
//! rather than `read_bytes`/`write_bytes` (bytes that reached a block device): the latter stay
//! zero on tmpfs, network and parallel file systems and in many containers, which is where HPC
//! codes do their I/O.

use crate::{Availability, Collector, MetricInfo};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::OnceLock;

/// Stack buffer size for one procfs read; `/proc/self/io` and `/proc/self/statm` fit in a third.
pub(crate) const PROC_BUF: usize = 512;

/// Bytes our own procfs reads have added to `rchar`, so that [`IoBytes`] can leave them out:
/// otherwise every region would show a few hundred bytes read that the program never asked for.
static SELF_READ: AtomicI64 = AtomicI64::new(0);

/// A procfs file opened once and re-read from offset 0 with `pread`, so a sample neither
/// allocates nor reopens. Reading at offset 0 makes procfs generate fresh contents.
pub(crate) struct ProcFile {
    path: &'static str,
    file: OnceLock<Option<File>>,
}

impl ProcFile {
    /// A file to open at first use.
    pub(crate) const fn new(path: &'static str) -> Self {
        ProcFile {
            path,
            file: OnceLock::new(),
        }
    }

    /// Current contents (up to `buf.len()` bytes), or `None` if the file cannot be opened or read.
    #[inline]
    pub(crate) fn read<'b>(&self, buf: &'b mut [u8]) -> Option<&'b [u8]> {
        let file = self
            .file
            .get_or_init(|| File::open(self.path).ok())
            .as_ref()?;
        let n = file.read_at(buf, 0).ok()?;
        SELF_READ.fetch_add(n as i64, Ordering::Relaxed);
        Some(&buf[..n])
    }

    /// Reads once and checks the contents with `parses`, saying why when that fails.
    pub(crate) fn probe(&self, parses: impl Fn(&[u8]) -> bool) -> Availability {
        let mut buf = [0u8; PROC_BUF];
        let why = match self.read(&mut buf) {
            Some(text) if parses(text) => return Availability::Available,
            Some(_) => "unexpected format".to_string(),
            None => self.why_unreadable(),
        };
        Availability::Unavailable(format!("cannot read {}: {why}", self.path))
    }

    /// The OS's reason, from a fresh open and read (the cached file only kept "it failed").
    fn why_unreadable(&self) -> String {
        let mut byte = [0u8; 1];
        match File::open(self.path).and_then(|f| f.read_at(&mut byte, 0)) {
            Err(e) => reason(&e),
            Ok(_) => "it could not be opened at first use".to_string(),
        }
    }
}

/// Short lower-case reason for the common failures, the OS's own words otherwise.
fn reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        _ => e.to_string(),
    }
}

/// The unsigned decimal at the start of `s`, after any blanks; `None` if there is none or it
/// does not fit an i64.
pub(crate) fn parse_dec(s: &[u8]) -> Option<i64> {
    let start = s.iter().position(|b| !matches!(b, b' ' | b'\t'))?;
    let digits = &s[start..];
    let len = digits.iter().take_while(|b| b.is_ascii_digit()).count();
    if len == 0 {
        return None;
    }
    digits[..len].iter().try_fold(0i64, |v, b| {
        v.checked_mul(10)?.checked_add(i64::from(b - b'0'))
    })
}

/// The value of the `key: value` line in `text`.
pub(crate) fn keyed_value(text: &[u8], key: &[u8]) -> Option<i64> {
    text.split(|b| *b == b'\n')
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(b":"))
        .and_then(parse_dec)
}

static PROC_IO: ProcFile = ProcFile::new("/proc/self/io");

/// `(rchar, wchar)` from the contents of `/proc/self/io`.
fn parse_io(text: &[u8]) -> Option<(i64, i64)> {
    Some((keyed_value(text, b"rchar")?, keyed_value(text, b"wchar")?))
}

/// Bytes read and written by the process's system calls (files, pipes, sockets; all threads).
pub struct IoBytes;

static IO_METRICS: [MetricInfo; 2] = [
    MetricInfo {
        name: "io.read_bytes",
        unit: crate::Unit::Bytes,
        description: "bytes returned by read-like system calls (rchar; cached or not)",
        additive: true,
    },
    MetricInfo {
        name: "io.write_bytes",
        unit: crate::Unit::Bytes,
        description: "bytes passed to write-like system calls (wchar; cached or not)",
        additive: true,
    },
];

impl Collector for IoBytes {
    fn name(&self) -> &'static str {
        "io"
    }
    fn aliases(&self) -> &'static [&'static str] {
        &["io_bytes", "rw_bytes"]
    }
    fn description(&self) -> &'static str {
        "bytes through read/write system calls, page cache included (/proc/self/io rchar, wchar)"
    }
    fn metrics(&self) -> &'static [MetricInfo] {
        &IO_METRICS
    }
    fn raw_len(&self) -> usize {
        2
    }
    fn probe(&self) -> Availability {
        PROC_IO.probe(|text| parse_io(text).is_some())
    }
    #[inline]
    fn sample(&self, out: &mut [i64]) {
        // Loaded before the read: the read's own bytes are not yet in rchar either.
        let ours = SELF_READ.load(Ordering::Relaxed);
        let mut buf = [0u8; PROC_BUF];
        if let Some((read, written)) = PROC_IO.read(&mut buf).and_then(parse_io) {
            out[0] = read - ours;
            out[1] = written;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::os::cpu::tests::measure;
    use std::io::{Read, Write};
    use std::sync::Mutex;

    /// The tests here see each other's I/O (one process): they take turns.
    static TURN: Mutex<()> = Mutex::new(());

    #[test]
    fn counts_a_file_written_and_read_back() {
        let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
        const MIB: usize = 1 << 20;
        let path = std::env::temp_dir().join(format!("rankscope-io-{}.bin", std::process::id()));
        let w = measure(&IoBytes, || {
            let mut f = File::create(&path).unwrap();
            f.write_all(&vec![7u8; MIB]).unwrap();
            f.sync_all().unwrap();
        });
        assert!(w[1] >= MIB as i64, "written {}", w[1]);
        let r = measure(&IoBytes, || {
            let mut back = Vec::with_capacity(MIB);
            File::open(&path).unwrap().read_to_end(&mut back).unwrap();
            assert_eq!(back.len(), MIB);
        });
        std::fs::remove_file(&path).unwrap();
        assert!(r[0] >= MIB as i64, "read {}", r[0]);
    }

    #[test]
    fn own_procfs_reads_are_left_out() {
        let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
        // Without the correction each sample adds its ~100 bytes of /proc/self/io to rchar.
        let mut a = [0i64; 2];
        let mut b = [0i64; 2];
        IoBytes.sample(&mut a);
        for _ in 0..2_000 {
            IoBytes.sample(&mut b);
        }
        // Other tests in this process may read a little meanwhile: a loose bound.
        assert!(b[0] - a[0] < 64 * 1024, "read {}", b[0] - a[0]);
    }

    #[test]
    fn parses_proc_self_io() {
        let text =
            b"rchar: 6976\nwchar: 12\nsyscr: 10\nsyscw: 0\nread_bytes: 0\nwrite_bytes: 4096\n";
        assert_eq!(parse_io(text), Some((6976, 12)));
        assert_eq!(keyed_value(text, b"write_bytes"), Some(4096));
        assert_eq!(keyed_value(text, b"write"), None);
        assert_eq!(parse_io(b"rchar: x\n"), None);
        assert_eq!(parse_io(b""), None);
        assert_eq!(parse_dec(b"  42 7"), Some(42));
        assert_eq!(parse_dec(b"99999999999999999999"), None);
    }

    #[test]
    fn probe_says_why() {
        assert_eq!(IoBytes.probe(), Availability::Available);
        let missing = ProcFile::new("/proc/self/no_such_file");
        assert_eq!(
            missing.probe(|_| true),
            Availability::Unavailable("cannot read /proc/self/no_such_file: no such file".into())
        );
        let odd = ProcFile::new("/proc/self/statm");
        assert_eq!(
            odd.probe(|text| parse_io(text).is_some()),
            Availability::Unavailable("cannot read /proc/self/statm: unexpected format".into())
        );
    }
}
