//! Sampling another process from outside: the per-rank sampler's thread and bounded series,
//! reading a program that does not use rankscope (a C or Fortran binary, any command) through
//! procfs, optionally with every process it starts, until it exits. `rankscope-run` starts one
//! per rank and writes what it recorded as that rank's snapshot (`<output_path>-rank<N>/`,
//! the folder of setting `rank_output`), which `rankscope merge` combines with the other
//! ranks' into the usual outputs.
//!
//! A program that does use rankscope measures itself: it announces that to the wrapper at
//! start-up ([`announce`]: a file in the folder named by `_RANKSCOPE_RUN_DIR`, when the
//! wrapper set it), and an external sampler started with that folder stops as soon as an
//! announcement appears there ([`ExternalSampler::start_watching`]), so nothing is sampled
//! twice and no rank gets two snapshots.
//!
//! ```no_run
//! use rankscope::sampler::ExternalSampler;
//! let mut child = std::process::Command::new("sleep").arg("1").spawn().unwrap();
//! let mut s = ExternalSampler::start(child.id(), true, 100_000_000).unwrap();
//! s.wait(); // until the process exits (the parent reaps it afterwards)
//! let _ = child.wait();
//! let folder = s.write_snapshot(0, "rankscope-output".as_ref()).unwrap();
//! ```

use super::{descriptions, run, unix_now_ns, Samples, Shared};
use crate::collectors::sampler::{alive, ProcessSource};
use crate::collectors::topology::{pid_binding, Binding};
use crate::collectors::{Availability, Source};
use crate::profile::{Profile, RankInfo};
use crate::{log, mpi, settings};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

/// A sampler thread reading process `pid` (and, with `tree`, its descendants) from outside.
/// Stops by itself when the process ends; dropping it stops it too.
pub struct ExternalSampler {
    pid: u32,
    tree: bool,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    /// The program's command line and executable, read at the start.
    cmdline: Vec<String>,
    executable: String,
    /// The program's CPU binding, read at the start and again at each snapshot while it runs.
    binding: Binding,
    start_unix_ns: i64,
}

impl ExternalSampler {
    /// Starts sampling process `pid` every `interval_ns` (with `tree`, summed over the process
    /// and every process it started). The first point comes one interval after the start. An
    /// error says why the process cannot be read (it does not exist, or not allowed).
    pub fn start(pid: u32, tree: bool, interval_ns: i64) -> Result<Self, String> {
        Self::start_watching(pid, tree, interval_ns, None)
    }

    /// [`start`](Self::start), and with `announce_dir`, stops as soon as a program announces
    /// there that it measures itself ([`announce`], [`announcements`]).
    pub fn start_watching(
        pid: u32,
        tree: bool,
        interval_ns: i64,
        announce_dir: Option<PathBuf>,
    ) -> Result<Self, String> {
        if interval_ns <= 0 {
            return Err(format!("interval {interval_ns} ns: must be above 0"));
        }
        let source = ProcessSource::of_pid(pid, tree);
        if let Availability::Unavailable(why) = source.probe() {
            return Err(why);
        }
        let start_unix_ns = unix_now_ns();
        let shared = Arc::new(Shared::new(Samples::new(
            descriptions(&[&source]),
            start_unix_ns,
            interval_ns,
        )));
        let for_thread = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("rankscope-ext-sampler".into())
            .spawn(move || {
                let go_on = || {
                    alive(pid)
                        && announce_dir
                            .as_deref()
                            .is_none_or(|d| announcements(d).is_empty())
                };
                run(&for_thread, &[&source], false, &go_on)
            })
            .map_err(|e| format!("could not start the sampler thread: {e}"))?;
        log::debug!(
            "external sampler: process {pid}{}, every {:.3} s",
            if tree { " and its children" } else { "" },
            interval_ns as f64 / 1e9
        );
        let cmdline = command_line(pid);
        let executable = std::fs::read_link(format!("/proc/{pid}/exe"))
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        Ok(ExternalSampler {
            pid,
            tree,
            shared,
            thread: Some(thread),
            cmdline,
            executable,
            binding: pid_binding(pid),
            start_unix_ns,
        })
    }

    /// The sampling interval of setting `sampler_interval`, in ns, or what it expects.
    pub fn interval_from_settings() -> Result<i64, String> {
        let s = settings::current();
        let text = s.options.get("sampler_interval").unwrap_or("0.1");
        crate::collectors::sampler::interval_ns(text)
            .map_err(|expected| format!("sampler_interval={text}: expected {expected}"))
    }

    /// The process sampled.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether the sampler has stopped: the process ended, or [`stop`](Self::stop) was called.
    pub fn finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// The series so far.
    pub fn samples(&self) -> Samples {
        self.shared.samples()
    }

    /// Waits until the process ends (the sampler then stops by itself) and returns the series.
    /// A process that is not our child vanishes when it ends; our own child ends as a zombie,
    /// which counts as ended, so reap it after this returns.
    pub fn wait(&mut self) -> Samples {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.samples()
    }

    /// Stops sampling now (one last point if the process still runs) and returns the series.
    /// Later calls return the same series.
    pub fn stop(&mut self) -> Samples {
        self.shared.stop();
        self.wait()
    }

    /// A profile of one rank holding the series (no call tree: the program has no regions),
    /// with run metadata: the program's command line, executable and pid, this host's machine
    /// summary, and `sampler.external` (who sampled what).
    pub fn profile(&mut self, rank: u32) -> Profile {
        if !self.finished() && alive(self.pid) {
            // The program may have bound its threads since it started.
            let now = pid_binding(self.pid);
            if now.error.is_none() {
                self.binding = now;
            }
        }
        let samples = self.samples();
        let secs = |ns: i64| ns as f64 / 1e9;
        let hostname = mpi::hostname();
        let metadata: BTreeMap<String, Value> = [
            ("rankscope.version", Value::from(env!("CARGO_PKG_VERSION"))),
            (
                "launchdate",
                Value::from(self.start_unix_ns / 1_000_000_000),
            ),
            ("start_time", Value::from(secs(self.start_unix_ns))),
            ("end_time", Value::from(secs(unix_now_ns()))),
            ("cmdline", Value::from(self.cmdline.clone())),
            ("executable", Value::from(self.executable.clone())),
            ("hostname", Value::from(hostname.clone())),
            ("pid", Value::from(self.pid)),
            (
                "sampler.external",
                serde_json::json!({
                    "pid": self.pid,
                    "children": self.tree,
                    "sampler_pid": std::process::id(),
                    "points": samples.len(),
                    "finished": self.finished(),
                }),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .chain([crate::topology::host_entry()])
        .collect();
        let mut p = Profile::new();
        p.metadata = metadata;
        p.ranks = vec![RankInfo {
            rank,
            hostname,
            pid: self.pid,
            binding: Some(self.binding.clone()),
            samples: Some(samples),
            clock_offset_ns: Some(crate::mpi::clock_offset_ns()),
        }];
        p
    }

    /// Writes the series so far as rank `rank`'s snapshot into `<output_path>-rank<rank>/`, as
    /// every rank snapshot is written ([`write_profile`](crate::resilience::snapshot::write_profile):
    /// claimed at the first call, rewritten atomically by later ones, so a snapshot taken on
    /// SIGTERM is completed at the end; a fallback folder when that one cannot take it).
    /// Returns the folder.
    pub fn write_snapshot(&mut self, rank: u32, output_path: &Path) -> io::Result<PathBuf> {
        let profile = self.profile(rank);
        let dir = crate::resilience::snapshot::write_profile(&profile, rank, output_path)?;
        log::debug!(
            "external sampler: rank {rank}: {} points of process {} in {}",
            profile.ranks[0].samples.as_ref().map_or(0, |s| s.len()),
            self.pid,
            dir.display()
        );
        Ok(dir)
    }
}

impl Drop for ExternalSampler {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The command line of process `pid`. Right after a parent's `exec` returns, the new program's
/// arguments may not be in place yet (`/proc/<pid>/cmdline` is then empty for a moment): read
/// again, for up to 100 ms, while the process runs.
fn command_line(pid: u32) -> Vec<String> {
    let read = || -> Vec<String> {
        std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|b| {
                b.split(|c| *c == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    for _ in 0..100 {
        let words = read();
        if !words.is_empty() || !alive(pid) {
            return words;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    read()
}

/// Set by `rankscope-run` for the program it starts: a folder where a rank process that runs
/// rankscope announces itself ([`announce`]).
pub const ANNOUNCE_VAR: &str = "_RANKSCOPE_RUN_DIR";

/// Called once by every rank process at start-up: when `rankscope-run` started it (variable
/// [`ANNOUNCE_VAR`]) and the run will write outputs (settings `enabled` and `auto_output`), it
/// creates `<folder>/<pid>` holding `pid <pid> rank <rank> output_path <path>`, telling the
/// wrapper that this program measures itself. Failures are reported at `debug` only: the
/// wrapper then samples from outside as for any program.
pub fn announce() {
    let Some(dir) = std::env::var_os(ANNOUNCE_VAR) else {
        return;
    };
    let s = settings::current();
    if !(s.enabled && s.auto_output) {
        return;
    }
    let pid = std::process::id();
    let rank = mpi::launched_rank().map_or(0, |(r, _)| r);
    let text = format!("pid {pid} rank {rank} output_path {}\n", s.output_path);
    let dir = PathBuf::from(dir);
    match crate::output::write_atomic(&dir, &pid.to_string(), text.as_bytes()) {
        Ok(_) => log::debug!("announced to rankscope-run in {}", dir.display()),
        Err(e) => log::debug!(
            "could not announce to rankscope-run in {}: {e}",
            dir.display()
        ),
    }
}

/// The announcements in `dir` ([`announce`]): one line per program that measures itself.
/// Temporary files of a write in progress are left out.
pub fn announcements(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.parse::<u32>().is_ok())
        })
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .map(|t| t.trim().to_string())
        .collect();
    found.sort();
    found
}

/// Samples process `pid` (with `tree`, and its descendants) every `interval_ns` until it ends,
/// and returns the series: [`ExternalSampler::start`] then [`ExternalSampler::wait`].
pub fn sample_until_exit(pid: u32, tree: bool, interval_ns: i64) -> Result<Samples, String> {
    Ok(ExternalSampler::start(pid, tree, interval_ns)?.wait())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn samples_a_child_until_it_exits_into_a_rank_snapshot() {
        let tmp = tempfile::tempdir().unwrap();
        // A shell that starts a child burning CPU for a while: the tree's CPU shows it.
        let mut child = Command::new("sh")
            .args(["-c", "timeout 0.6 sh -c 'while :; do :; done'; sleep 0.2"])
            .spawn()
            .unwrap();
        let mut s = ExternalSampler::start(child.id(), true, 20_000_000).unwrap();
        let samples = s.wait();
        assert!(s.finished());
        assert!(child.wait().unwrap().success());
        assert!(samples.len() >= 10, "{} points", samples.len());
        let names: Vec<&str> = samples.series.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "process.rss",
                "process.peak_rss",
                "process.virtual",
                "process.cpu"
            ]
        );
        // Every point was read while the process ran: no zero sizes from its end.
        assert!(samples.columns[0].iter().all(|&rss| rss > 0));
        assert!(
            samples.columns[3].iter().any(|&cpu| cpu > 500_000),
            "cpu {:?}",
            samples.columns[3]
        );
        let dir = s.write_snapshot(3, &tmp.path().join("out")).unwrap();
        assert_eq!(dir, tmp.path().join("out-rank3"));
        let p = crate::output::read_profile(&dir.join("profile.json")).unwrap();
        assert_eq!(p.ranks.len(), 1);
        assert_eq!(p.ranks[0].rank, 3);
        assert_eq!(p.ranks[0].pid, child.id());
        assert_eq!(p.ranks[0].samples.as_ref().unwrap(), &samples);
        assert_eq!(p.metadata["cmdline"][0], "sh");
        assert!(p.nodes.is_empty());
        // A second snapshot rewrites the same folder.
        assert_eq!(s.write_snapshot(3, &tmp.path().join("out")).unwrap(), dir);
        assert!(!tmp.path().join("out-rank3-1").exists());
    }

    #[test]
    fn an_announcement_stops_the_sampler() {
        let tmp = tempfile::tempdir().unwrap();
        let mut child = Command::new("sleep").arg("5").spawn().unwrap();
        let s = ExternalSampler::start_watching(
            child.id(),
            false,
            10_000_000,
            Some(tmp.path().to_path_buf()),
        )
        .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!s.finished());
        // What a rank writes (announce() itself reads the environment: tested end to end).
        crate::output::write_atomic(tmp.path(), "123", b"pid 123 rank 0 output_path x\n").unwrap();
        std::fs::write(tmp.path().join(".tmp-not-yet"), "partial").unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !s.finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(s.finished());
        assert_eq!(announcements(tmp.path()), ["pid 123 rank 0 output_path x"]);
        let _ = child.kill();
        let _ = child.wait();
    }

    #[test]
    fn stopping_early_and_a_missing_process() {
        let mut child = Command::new("sleep").arg("5").spawn().unwrap();
        let mut s = ExternalSampler::start(child.id(), false, 10_000_000).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
        let n = s.stop().len();
        assert!(s.finished());
        assert!(n >= 3, "{n} points");
        // Stopped: no more points, whatever the process does.
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert_eq!(s.samples().len(), n);
        let _ = child.kill();
        let _ = child.wait();
        let err = ExternalSampler::start(child.id(), true, 10_000_000)
            .err()
            .unwrap();
        assert!(err.contains(&format!("/proc/{}", child.id())), "{err}");
        assert!(ExternalSampler::start(std::process::id(), true, 0).is_err());
    }
}
