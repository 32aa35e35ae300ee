//! Choosing and creating the output folder, and writing files into it atomically.
//!
//! A run never overwrites an earlier run's folder: the folder is claimed with `create_dir` (which
//! fails when the name exists, even if another process created it a moment ago), and on
//! `AlreadyExists` the next suffix is tried. Files are written under a hidden temporary name and
//! renamed, so a reader (or a job killed at its walltime) sees either the whole file or none.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Folder name used when `output_path` has no name of its own to suffix (`.`, `..`, `/`).
pub const DEFAULT_FOLDER: &str = "rankscope-output";

/// Most suffixes tried before giving up; far beyond any real number of runs in one place.
const MAX_SUFFIX: u32 = 100_000;

/// A freshly created output folder and the file-name prefix applied to everything written there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputDir {
    /// The folder, created by [`OutputDir::create`] and owned by this run.
    pub path: PathBuf,
    /// Prepended to every file name (setting `output_prefix`); may be empty.
    pub prefix: String,
}

impl OutputDir {
    /// Creates a new folder for this run and returns it.
    ///
    /// Without `time_output` the folder is `output_path` itself, or `output_path-1`, `-2`, ...
    /// when that exists. With `time_output` it is `output_path/<YYYYmmdd-HHMMSS>` (UTC), suffixed
    /// the same way. Missing parents are created.
    pub fn create(output_path: &Path, time_output: bool, prefix: &str) -> io::Result<OutputDir> {
        let stamp = time_output.then(|| utc_stamp(SystemTime::now()));
        Ok(OutputDir {
            path: claim_folder(output_path, stamp.as_deref())?,
            prefix: prefix.to_string(),
        })
    }

    /// Writes `bytes` to `<prefix><name>` in the folder, atomically; returns the file's path.
    pub fn write(&self, name: &str, bytes: &[u8]) -> io::Result<PathBuf> {
        write_atomic(&self.path, &format!("{}{name}", self.prefix), bytes)
    }
}

/// Creates and returns the first free folder: `base` (or `base/stamp`), then `-1`, `-2`, ...
pub fn claim_folder(output_path: &Path, stamp: Option<&str>) -> io::Result<PathBuf> {
    let base = match stamp {
        Some(s) => output_path.join(s),
        None if has_own_name(output_path) => output_path.to_path_buf(),
        None => output_path.join(DEFAULT_FOLDER),
    };
    if let Some(parent) = base.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|e| named(e, "creating output folder", parent))?;
    }
    for n in 0..=MAX_SUFFIX {
        let candidate = if n == 0 {
            base.clone()
        } else {
            with_suffix(&base, n)
        };
        match fs::create_dir(&candidate) {
            Ok(()) => return Ok(candidate),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(named(e, "creating output folder", &candidate)),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!(
            "creating output folder {}: every suffix up to -{MAX_SUFFIX} is taken",
            base.display()
        ),
    ))
}

/// True when the path ends in a real name (not `.`, `..` or a root) that can take a suffix.
/// Looks at the raw text because `Path::components` drops a trailing `.`.
fn has_own_name(p: &Path) -> bool {
    let raw = p.as_os_str().as_encoded_bytes();
    let trimmed = raw
        .iter()
        .rposition(|&c| c != b'/')
        .map_or(&raw[..0], |i| &raw[..=i]);
    let last = trimmed.rsplit(|&c| c == b'/').next().unwrap_or_default();
    !(last.is_empty() || last == b"." || last == b"..")
}

fn with_suffix(base: &Path, n: u32) -> PathBuf {
    let mut name: OsString = base.file_name().unwrap_or_default().to_os_string();
    name.push(format!("-{n}"));
    base.with_file_name(name)
}

/// Where outputs go when their own place cannot take them (unwritable, full, not a folder):
/// `$TMPDIR/rankscope-fallback/<name of output_path>` (`/tmp` without `TMPDIR`), claimed like
/// any output folder. The error message names it.
pub fn fallback_for(output_path: &Path) -> PathBuf {
    let name = output_path
        .file_name()
        .map_or_else(|| DEFAULT_FOLDER.into(), |n| n.to_os_string());
    std::env::temp_dir().join("rankscope-fallback").join(name)
}

/// Writes `bytes` to `dir/file_name` through a hidden temporary file in the same folder: write,
/// fsync, rename. On any error the temporary is removed and the error names the file.
pub fn write_atomic(dir: &Path, file_name: &str, bytes: &[u8]) -> io::Result<PathBuf> {
    // Same folder, so the rename stays on one filesystem and is atomic. Pid and a counter keep
    // concurrent writers (threads, or ranks sharing a folder) off each other's temporaries.
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let target = dir.join(file_name);
    let tmp = dir.join(format!(
        ".{file_name}.tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, &target)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(named(e, "writing", &target));
    }
    // Make the rename itself durable. Some filesystems refuse fsync on a directory; the file is
    // already complete by then, so that is not worth failing the run over.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(target)
}

/// Wraps an io::Error so that its message says what was being done to which path.
fn named(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

/// `YYYYmmdd-HHMMSS` of a time in UTC. Times before 1970 (a badly set clock) print as the epoch.
pub fn utc_stamp(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Proleptic Gregorian (year, month, day) of a count of days since 1970-01-01.
/// Works in 400-year eras (146097 days), with years starting in March so that the leap day
/// falls at the end of the year.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // year of era, 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of year from March 1st
    let mp = (5 * doy + 2) / 153; // month from March, 0..=11
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn stamps_known_dates() {
        let at = |s| utc_stamp(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "19700101-000000");
        assert_eq!(at(951_782_400), "20000229-000000"); // leap day of a century leap year
        assert_eq!(at(1_709_251_199), "20240229-235959");
        assert_eq!(at(4_107_542_400), "21000301-000000"); // 2100 is not a leap year
        assert_eq!(at(1_234_567_890), "20090213-233130");
    }

    #[test]
    fn days_round_trip_over_centuries() {
        // Walking day by day, the date must advance by exactly one calendar day each time.
        let mut prev = civil_from_days(-800);
        for d in -799..200_000 {
            let cur = civil_from_days(d);
            let next_day = (prev.0, prev.1, prev.2 + 1);
            let next_month = (prev.0, prev.1 + 1, 1);
            let next_year = (prev.0 + 1, 1, 1);
            assert!(
                cur == next_day || cur == next_month || cur == next_year,
                "{prev:?} -> {cur:?}"
            );
            prev = cur;
        }
    }

    #[test]
    fn never_reuses_a_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("deep/rankscope-output");
        let a = claim_folder(&base, None).unwrap();
        let b = claim_folder(&base, None).unwrap();
        let c = claim_folder(&base, None).unwrap();
        assert_eq!(a, base);
        assert_eq!(b, tmp.path().join("deep/rankscope-output-1"));
        assert_eq!(c, tmp.path().join("deep/rankscope-output-2"));
        let s1 = claim_folder(&base, Some("20240101-000000")).unwrap();
        let s2 = claim_folder(&base, Some("20240101-000000")).unwrap();
        assert_eq!(s1, base.join("20240101-000000"));
        assert_eq!(s2, base.join("20240101-000000-1"));
    }

    #[test]
    fn dot_gets_a_named_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let dot = tmp.path().join(".");
        let a = claim_folder(&dot, None).unwrap();
        assert_eq!(a.file_name().unwrap(), DEFAULT_FOLDER);
        assert!(a.is_dir());
        assert!(has_own_name(Path::new("out/")) && has_own_name(Path::new("a/b")));
        for p in [".", "..", "/", "a/..", "a/./", ""] {
            assert!(!has_own_name(Path::new(p)), "{p}");
        }
    }

    #[test]
    fn writes_atomically_with_prefix() {
        let tmp = tempfile::tempdir().unwrap();
        let out = OutputDir::create(&tmp.path().join("o"), true, "run1-").unwrap();
        assert_eq!(out.path.parent().unwrap(), tmp.path().join("o"));
        let p = out.write("report.txt", b"hello").unwrap();
        assert_eq!(p, out.path.join("run1-report.txt"));
        assert_eq!(fs::read(&p).unwrap(), b"hello");
        // Overwriting a file inside our own folder replaces it whole.
        out.write("report.txt", b"bye").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"bye");
        let names: Vec<_> = fs::read_dir(&out.path).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporaries left behind");
    }

    #[test]
    fn failed_write_names_the_file_and_cleans_up() {
        let tmp = tempfile::tempdir().unwrap();
        // A non-empty directory where the file should go makes the final rename fail.
        fs::create_dir_all(tmp.path().join("profile.json/inside")).unwrap();
        let err = write_atomic(tmp.path(), "profile.json", b"{}").unwrap_err();
        assert!(err.to_string().contains("profile.json"), "{err}");
        let left: Vec<_> = fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec![OsString::from("profile.json")]);
        let err = write_atomic(&tmp.path().join("missing"), "x.txt", b"").unwrap_err();
        assert!(err.to_string().contains("x.txt"), "{err}");
    }
}
