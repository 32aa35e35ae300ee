//! The process-level entry points: joining MPI, this process's profile with its run metadata,
//! the reduction of every rank's profile to rank 0, and writing the outputs once at the end.
//!
//! Rust programs call [`init`] at the start of `main` and [`finalize`] at the end; the Python
//! package calls the same functions at import and at exit.

use crate::mpi::{self, ThreadLevel};
use crate::output::{self, OutputOptions, TextOptions};
use crate::profile::Profile;
use crate::settings::{self, MpiThread, Settings};
use crate::storage;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// When the run started: the first of `init` and `get`, whichever came first.
static START: OnceLock<SystemTime> = OnceLock::new();
static INIT: std::sync::Once = std::sync::Once::new();

/// Starts the run: reports settings problems found in the environment (on stderr), joins MPI
/// when a launcher started the job (or adopts an MPI someone else initialised; setting
/// `mpi_init`), and arranges for the final reduction and outputs to happen at the start of
/// `MPI_Finalize` or at [`finalize`], whichever comes first. Collective under a launcher: every
/// rank must call it early. Later calls do nothing.
pub fn init() {
    START.get_or_init(SystemTime::now);
    INIT.call_once(|| {
        for e in settings::init_errors() {
            eprintln!("rankscope: error: {e}");
        }
        for w in settings::init_warnings() {
            eprintln!("rankscope: warning: {w}");
        }
        let s = settings::current();
        if s.trace_output {
            eprintln!("rankscope: warning: trace_output: the Chrome/Perfetto trace writer is not implemented in this version; no trace will be written");
        }
        if s.mpi_init {
            mpi::init(thread_level(s.mpi_thread));
        }
        mpi::on_finalize(Box::new(final_outputs));
    });
}

/// The MPI thread level for the `mpi_thread` setting.
pub fn thread_level(t: MpiThread) -> ThreadLevel {
    match t {
        MpiThread::Single => ThreadLevel::Single,
        MpiThread::Funneled => ThreadLevel::Funneled,
        MpiThread::Serialized => ThreadLevel::Serialized,
        MpiThread::Multiple => ThreadLevel::Multiple,
    }
}

/// This process's profile, every thread included (collapsed or not per `collapse_threads`),
/// with run metadata. Reads running threads without stopping them; does no I/O and no
/// communication.
pub fn get() -> Profile {
    let s = settings::current();
    let mut p = storage::profile(s.collapse_threads, mpi::rank_info(mpi::world().rank));
    p.metadata = metadata(&s);
    p
}

/// Every rank's profile merged on rank 0 (`Some` there, `None` on the other ranks): the union
/// of the rank trees with each rank's values as a column. Collective: every rank must call it,
/// as often as wanted. Without MPI it returns this process's profile.
pub fn dmp_get() -> Option<Profile> {
    mpi::reduce_to_root(get())
}

/// Run metadata: start time, command line, executable, host, pid, version and settings.
fn metadata(s: &Settings) -> std::collections::BTreeMap<String, Value> {
    let start = *START.get_or_init(SystemTime::now);
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
        ("hostname", Value::from(mpi::hostname())),
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
        hdf5_output: s.hdf5_output,
        caliper_output: s.caliper_output,
        per_rank: !s.collapse_processes,
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

static FINAL_DONE: AtomicBool = AtomicBool::new(false);
static FINAL_FILES: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// The final reduction and outputs, run once from the MPI finalize hook or [`finalize`]:
/// every rank sends its profile to rank 0, which writes the merged outputs (unless `enabled`
/// or `auto_output` is off).
fn final_outputs() {
    if FINAL_DONE.swap(true, Ordering::SeqCst) {
        return;
    }
    let s = settings::current();
    if !(s.enabled && s.auto_output) {
        return;
    }
    if s.rank_output {
        write_rank_snapshot();
    }
    if let Some(merged) = dmp_get() {
        let files = write(&merged);
        *FINAL_FILES.lock().unwrap_or_else(|e| e.into_inner()) = files;
    }
}

/// Writes this rank's own profile, without any communication, into a folder of its own next to
/// the merged outputs: `<output_path>-rank<N>` (never overwritten). Used by `rank_output`
/// (before the reduction, so that a job dying in it loses nothing) and after a fatal error.
/// Returns the folder; problems are reported on stderr.
pub fn write_rank_snapshot() -> Option<PathBuf> {
    let s = settings::current();
    let rank = mpi::world().rank;
    let mut o = output_options(&s);
    o.output_path = PathBuf::from(format!("{}-rank{rank}", s.output_path));
    o.time_output = false;
    (o.hdf5_output, o.caliper_output, o.dart_output) = (false, false, false);
    match output::write_all(&get(), &o) {
        Ok(files) => files.first().and_then(|f| f.parent()).map(PathBuf::from),
        Err(e) => {
            eprintln!("rankscope: error: rank {rank} could not write its own data: {e}");
            None
        }
    }
}

/// After a fatal error on this rank (an uncaught exception): writes this rank's own data
/// ([`write_rank_snapshot`]) and, when other ranks exist, aborts the whole job with `code` so
/// that they do not hang in their next collective. The final reduction no longer happens.
/// Returns (only when this process runs alone) the folder written.
pub fn abort(code: i32) -> Option<PathBuf> {
    FINAL_DONE.store(true, Ordering::SeqCst);
    let dir = settings::current()
        .enabled
        .then(write_rank_snapshot)
        .flatten();
    if let Some(d) = &dir {
        eprintln!(
            "rankscope: rank {} failed; its data is in {}",
            mpi::world().rank,
            d.display()
        );
    }
    mpi::abort(code);
    dir
}

/// Ends the run: the final reduction and outputs unless they already happened (when the
/// application finalised MPI itself), then `MPI_Finalize` if [`init`] initialised MPI.
/// Returns the files rank 0 wrote (empty elsewhere, and on later calls).
pub fn finalize() -> Vec<PathBuf> {
    init();
    mpi::finalize();
    std::mem::take(&mut *FINAL_FILES.lock().unwrap_or_else(|e| e.into_inner()))
}
