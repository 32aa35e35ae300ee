//! A rank's own snapshot: its profile now, written without any communication into a folder of
//! its own next to the merged outputs (`<output_path>-rank<N>/`), claimed once per process and
//! then replaced file by file atomically, so a reader (or `rankscope merge` after a kill) sees
//! the last whole snapshot, never a partial one.

use crate::log;
use crate::mpi;
use crate::output::{self, folder};
use crate::profile::Profile;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// The folder claimed in this process for each wanted snapshot folder (`<output_path>-rank<N>`;
/// the fallback when that one failed).
static FOLDERS: Mutex<BTreeMap<PathBuf, PathBuf>> = Mutex::new(BTreeMap::new());
/// One snapshot at a time (the writer thread's and an error's may meet): they would claim two
/// folders or interleave their files.
static WRITING: Mutex<()> = Mutex::new(());

/// Why a snapshot was written, recorded in its metadata (`snapshot.reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Setting `rank_output`, before the final reduction.
    RankOutput,
    /// A job larger than setting `per_rank_max`: this rank's values do not go to rank 0.
    PerRankMax,
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
            Reason::PerRankMax => "per_rank_max",
            Reason::Error => "error",
            Reason::Periodic => "snapshot_interval",
            Reason::DumpAfter => "dump_after",
            Reason::Signal(name) => name,
        }
    }
}

/// Writes this rank's profile now (no MPI call) as `profile.json` and `report.txt` in its
/// snapshot folder; returns the folder. A rank that measured nothing yet writes nothing.
/// Problems are reported on stderr.
pub fn write(reason: Reason) -> Option<PathBuf> {
    write_taken(reason, &mut crate::lifecycle::get())
}

/// [`write`] of `p`, this rank's profile just taken (so that the final outputs take it once);
/// the snapshot's own metadata keys are removed from it again afterwards.
pub fn write_taken(reason: Reason, p: &mut Profile) -> Option<PathBuf> {
    // The metadata is small: copying it is cheaper than taking the profile again.
    let metadata = p.metadata.clone();
    let dir = write_with_keys(reason, p);
    p.metadata = metadata;
    dir
}

fn write_with_keys(reason: Reason, p: &mut Profile) -> Option<PathBuf> {
    let began = std::time::Instant::now();
    let s = crate::settings::current();
    let w = mpi::world();
    if p.nodes.is_empty() && p.ranks.iter().all(|r| r.samples.is_none()) {
        // Nothing measured yet (a tool that imports rankscope, a rank before its first region):
        // nothing to lose, and an empty folder would only litter.
        log::debug!(
            "snapshot ({}): nothing measured, nothing written",
            reason.text()
        );
        return None;
    }
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
    // A job above per_rank_max writes one file per rank: the JSON `rankscope merge` reads is
    // the point, a text report per rank would only cost time at the end of every rank.
    let text = s.text_output && reason != Reason::PerRankMax;
    let result = write_files(p, w.rank, Path::new(&s.output_path), text);
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

/// Writes `profile` as rank `rank`'s snapshot into `<output_path>-rank<rank>/`: claimed at the
/// first call for that path (`-1`, `-2`, ... appended when a run before left one), then its
/// files replaced atomically at every later call, so a snapshot taken on a signal is simply
/// completed by a later one. `profile.json` (what `rankscope merge` reads) and, with setting
/// `text_output`, `report.txt`. When the folder cannot be claimed or written (unwritable, full),
/// the fallback folder takes it and later snapshots, and stderr names both. Returns the folder.
pub fn write_profile(profile: &Profile, rank: u32, output_path: &Path) -> io::Result<PathBuf> {
    let text = crate::settings::current().text_output;
    write_files(profile, rank, output_path, text)
}

/// [`write_profile`], with `report.txt` only when `text`.
fn write_files(
    profile: &Profile,
    rank: u32,
    output_path: &Path,
    text: bool,
) -> io::Result<PathBuf> {
    let mut wanted = output_path.as_os_str().to_owned();
    wanted.push(format!("-rank{rank}"));
    let wanted = PathBuf::from(wanted);
    let _one_at_a_time = WRITING.lock().unwrap_or_else(|e| e.into_inner());
    let s = crate::settings::current();
    let put = |dir: &Path| -> io::Result<()> {
        let prefix = &s.output_prefix;
        output::write_atomic(
            dir,
            &format!("{prefix}profile.json"),
            &output::to_json(profile)?,
        )?;
        if text {
            let text = output::text_report(profile, &crate::lifecycle::output_options(&s).text);
            output::write_atomic(dir, &format!("{prefix}report.txt"), text.as_bytes())?;
        }
        Ok(())
    };
    let claimed = FOLDERS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&wanted)
        .cloned();
    let dir = match claimed {
        Some(dir) => dir,
        None => match folder::claim_folder(&wanted, None) {
            Ok(dir) => remember(&wanted, dir),
            Err(e) => fall_back(&wanted, rank, &e)?,
        },
    };
    match put(&dir) {
        Ok(()) => Ok(dir),
        // Full or unwritable since the folder was claimed: the fallback from now on.
        Err(e) => {
            let dir = fall_back(&wanted, rank, &e)?;
            put(&dir).map(|()| dir)
        }
    }
}

/// Notes that snapshots meant for `wanted` go to `dir` in this process.
fn remember(wanted: &Path, dir: PathBuf) -> PathBuf {
    FOLDERS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(wanted.to_path_buf(), dir.clone());
    dir
}

/// Claims the fallback folder for `wanted` (see [`folder::fallback_for`]) after `error`, says
/// so on stderr, and uses it for this process's later snapshots.
fn fall_back(wanted: &Path, rank: u32, error: &io::Error) -> io::Result<PathBuf> {
    let fallback = folder::fallback_for(wanted);
    log::error!(
        "could not write rank {rank}'s snapshot to {}: {error}; writing it to {} instead",
        wanted.display(),
        fallback.display()
    );
    Ok(remember(wanted, folder::claim_folder(&fallback, None)?))
}
