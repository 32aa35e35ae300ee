//! A rank's own snapshot: its profile now, written without any communication into a folder of
//! its own next to the merged outputs (`<output_path>-rank<N>/`), claimed once per process and
//! then replaced file by file atomically, so a reader (or `rankscope merge` after a kill) sees
//! the last whole snapshot, never a partial one.

use crate::log;
use crate::mpi;
use crate::output::{self, folder};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// This process's snapshot folder, once claimed.
static FOLDER: Mutex<Option<PathBuf>> = Mutex::new(None);
/// One snapshot at a time (the writer thread's and an error's may meet): they would claim two
/// folders or interleave their files.
static WRITING: Mutex<()> = Mutex::new(());

/// Why a snapshot was written, recorded in its metadata (`snapshot.reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Setting `rank_output`, before the final reduction.
    RankOutput,
    /// An uncaught error on this rank.
    Error,
    /// Every `snapshot_interval` seconds.
    Periodic,
    /// Once, `dump_after` seconds after the start.
    DumpAfter,
    /// A signal (SIGTERM, SIGUSR1, SIGXCPU), named.
    Signal(&'static str),
}

impl Reason {
    fn text(self) -> &'static str {
        match self {
            Reason::RankOutput => "rank_output",
            Reason::Error => "error",
            Reason::Periodic => "snapshot_interval",
            Reason::DumpAfter => "dump_after",
            Reason::Signal(name) => name,
        }
    }
}

/// Writes this rank's profile now (no MPI call) as `profile.json` and `report.txt` in its
/// snapshot folder; returns the folder. Problems are reported on stderr.
pub fn write(reason: Reason) -> Option<PathBuf> {
    let _one_at_a_time = WRITING.lock().unwrap_or_else(|e| e.into_inner());
    let began = std::time::Instant::now();
    let s = crate::settings::current();
    let w = mpi::world();
    let mut p = crate::lifecycle::get();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    // Regions still running when the snapshot was taken (a rank stuck in a collective shows
    // where): their nodes hold the laps finished before, this says they were open.
    let open: serde_json::Map<String, Value> = crate::storage::open_everywhere()
        .into_iter()
        .map(|(thread, names, depth)| {
            let mut path: Vec<Value> = names.into_iter().map(Value::from).collect();
            if depth > path.len() {
                path.push(Value::from(format!("... {} more", depth - path.len())));
            }
            (format!("thread {thread}"), Value::from(path))
        })
        .collect();
    for (k, v) in [
        ("snapshot.open_regions", Value::Object(open)),
        ("snapshot.reason", Value::from(reason.text())),
        ("snapshot.unix", Value::from(now)),
        // Lets `rankscope merge` say which ranks are missing.
        ("mpi.world.size", Value::from(w.size)),
    ] {
        p.metadata.insert(k.to_string(), v);
    }
    let o = crate::lifecycle::output_options(&s);
    let prefix = &s.output_prefix;
    let put = |dir: &Path| -> std::io::Result<()> {
        let json = output::to_json(&p)?;
        let text = output::text_report(&p, &o.text);
        output::write_atomic(dir, &format!("{prefix}profile.json"), &json)?;
        output::write_atomic(dir, &format!("{prefix}report.txt"), text.as_bytes())?;
        Ok(())
    };
    let result = folder_for(&s.output_path, w.rank).and_then(|dir| match put(&dir) {
        Ok(()) => Ok(dir),
        // Full or unwritable since the folder was claimed: the fallback from now on.
        Err(e) => {
            let dir = fall_back(&dir, w.rank, &e)?;
            put(&dir).map(|()| dir)
        }
    });
    match result {
        Ok(dir) => {
            log::debug!(
                "snapshot ({}) written to {} in {:.3} s",
                reason.text(),
                dir.display(),
                began.elapsed().as_secs_f64()
            );
            Some(dir)
        }
        Err(e) => {
            log::error!("rank {} could not write its snapshot: {e}", w.rank);
            None
        }
    }
}

/// The folder claimed for this process's snapshots (`<output_path>-rank<N>`, or a suffixed
/// name when a run before left one), claimed at the first snapshot.
fn folder_for(output_path: &str, rank: u32) -> std::io::Result<PathBuf> {
    let slot = FOLDER.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(dir) = slot.as_ref() {
        return Ok(dir.clone());
    }
    let wanted = PathBuf::from(format!("{output_path}-rank{rank}"));
    drop(slot);
    let dir = match folder::claim_folder(&wanted, None) {
        Ok(dir) => dir,
        Err(e) => return fall_back(&wanted, rank, &e),
    };
    *FOLDER.lock().unwrap_or_else(|e| e.into_inner()) = Some(dir.clone());
    Ok(dir)
}

/// Claims the fallback folder for `wanted` (see [`folder::fallback_for`]) after `error`, says
/// so on stderr, and uses it for this process's later snapshots.
fn fall_back(wanted: &Path, rank: u32, error: &std::io::Error) -> std::io::Result<PathBuf> {
    let fallback = folder::fallback_for(wanted);
    log::error!(
        "could not write rank {rank}'s snapshot to {}: {error}; writing it to {} instead",
        wanted.display(),
        fallback.display()
    );
    let dir = folder::claim_folder(&fallback, None)?;
    *FOLDER.lock().unwrap_or_else(|e| e.into_inner()) = Some(dir.clone());
    Ok(dir)
}
