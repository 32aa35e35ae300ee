//! The process-level entry points: this process's profile with its run metadata, and writing
//! the outputs once at the end of the run.

use crate::output::{self, OutputOptions, TextOptions};
use crate::profile::{Profile, RankInfo};
use crate::settings::{self, Settings};
use crate::storage;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

static STARTED: OnceLock<(SystemTime, i64)> = OnceLock::new();

/// Notes the run's start time and reports settings problems found in the environment (on
/// stderr). Called by the first region implicitly; call it early for an exact start time.
pub fn init() {
    STARTED.get_or_init(|| {
        for e in settings::init_errors() {
            eprintln!("rankscope: error: {e}");
        }
        for w in settings::init_warnings() {
            eprintln!("rankscope: warning: {w}");
        }
        (SystemTime::now(), crate::collectors::monotonic_ns())
    });
}

/// Host name of this machine.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it or fails.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let end = buf.iter().position(|&b| b == 0).unwrap_or(0);
    if ok {
        String::from_utf8_lossy(&buf[..end]).into_owned()
    } else {
        "unknown".into()
    }
}

/// This process as one rank (rank 0 without MPI).
pub fn rank_info(rank: u32) -> RankInfo {
    RankInfo {
        rank,
        hostname: hostname(),
        pid: std::process::id(),
    }
}

/// This process's profile, every thread included (collapsed or not per `collapse_threads`),
/// with run metadata. Reads running threads without stopping them; does no I/O.
pub fn get() -> Profile {
    init();
    let s = settings::current();
    let mut p = storage::profile(s.collapse_threads, rank_info(0));
    p.metadata = metadata(&s);
    p
}

/// Run metadata: start time, command line, executable, host, pid, version and settings.
fn metadata(s: &Settings) -> std::collections::BTreeMap<String, Value> {
    let (start, _) = *STARTED.get().expect("init() ran");
    let secs = |t: SystemTime| {
        t.duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
    };
    let settings: serde_json::Map<String, Value> = s
        .entries()
        .into_iter()
        .map(|(k, v)| (k.to_string(), Value::String(v)))
        .collect();
    [
        ("rankscope.version", Value::from(env!("CARGO_PKG_VERSION"))),
        ("launchdate", Value::from(secs(start) as i64)),
        ("start_time", Value::from(secs(start))),
        ("end_time", Value::from(secs(SystemTime::now()))),
        ("cmdline", Value::from(std::env::args().collect::<Vec<_>>())),
        (
            "executable",
            Value::from(
                std::env::current_exe()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            ),
        ),
        ("hostname", Value::from(hostname())),
        ("pid", Value::from(std::process::id())),
        ("settings", Value::Object(settings)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Output options from the settings.
pub fn output_options(s: &Settings) -> OutputOptions {
    OutputOptions {
        output_path: PathBuf::from(&s.output_path),
        time_output: s.time_output,
        prefix: s.output_prefix.clone(),
        json_output: s.json_output,
        text_output: s.text_output,
        dart_output: s.dart_output,
        dart_count: s.dart_count as usize,
        text: TextOptions {
            precision: s.precision as usize,
            width: s.width as usize,
            scientific: s.scientific,
        },
    }
}

/// Writes `profile` with the current settings and says where on stderr (setting `banner`).
/// Errors are reported on stderr and never reach the application.
pub fn write(profile: &Profile) -> Vec<PathBuf> {
    let s = settings::current();
    match output::write_all(profile, &output_options(&s)) {
        Ok(files) => {
            if s.banner {
                if let Some(dir) = files.first().and_then(|f| f.parent()) {
                    eprintln!("rankscope: outputs written to {}", dir.display());
                }
            }
            files
        }
        Err(e) => {
            eprintln!("rankscope: error: could not write outputs: {e}");
            Vec::new()
        }
    }
}

/// Ends the run: writes this process's outputs (unless `enabled` or `auto_output` is off).
/// Runs once; later calls do nothing and return no files.
pub fn finalize() -> Vec<PathBuf> {
    static DONE: AtomicBool = AtomicBool::new(false);
    if DONE.swap(true, Ordering::SeqCst) {
        return Vec::new();
    }
    let s = settings::current();
    if !(s.enabled && s.auto_output) {
        return Vec::new();
    }
    write(&get())
}
