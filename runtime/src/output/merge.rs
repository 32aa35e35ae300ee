//! Merging profiles written separately (per-rank snapshots of `rank_output`, or of a job that
//! died before its reduction) into the one answer rank 0 would have written.

use super::read_profile;
use crate::profile::Profile;
use std::io;
use std::path::{Path, PathBuf};

/// Where one rank of a merge came from: what `rankscope merge` reports.
#[derive(Clone, Debug, PartialEq)]
pub struct MergedRank {
    /// The rank.
    pub rank: u32,
    /// The file it was read from.
    pub file: PathBuf,
    /// Why its snapshot was written (`SIGTERM`, `snapshot_interval`, ...), when it says.
    pub reason: Option<String>,
    /// When its snapshot was written (seconds since the Unix epoch), when it says.
    pub taken_unix: Option<f64>,
}

/// What a merge holds and lacks.
#[derive(Clone, Debug, PartialEq)]
pub struct MergeReport {
    /// Every rank merged, in rank order.
    pub ranks: Vec<MergedRank>,
    /// The job's size as the snapshots recorded it (`mpi.world.size`, the largest seen).
    pub world_size: Option<u32>,
}

impl MergeReport {
    /// Ranks below `world_size` that no file held.
    pub fn missing(&self) -> Vec<u32> {
        let size = self.world_size.unwrap_or(0);
        (0..size)
            .filter(|r| !self.ranks.iter().any(|m| m.rank == *r))
            .collect()
    }

    /// What `rankscope merge` says on stderr: each rank's source, snapshot reason and age at
    /// `now`, and the missing ranks.
    pub fn summary(&self, now: std::time::SystemTime) -> String {
        let now = now
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let mut out = String::new();
        for r in &self.ranks {
            let what = match (&r.reason, r.taken_unix) {
                (Some(reason), Some(t)) => format!(" ({reason} snapshot, {:.0} s old)", now - t),
                (None, Some(t)) => format!(" ({:.0} s old)", now - t),
                _ => String::new(),
            };
            out.push_str(&format!("rank {}: {}{what}\n", r.rank, r.file.display()));
        }
        let missing = self.missing();
        if !missing.is_empty() {
            let list: Vec<String> = missing.iter().map(u32::to_string).collect();
            out.push_str(&format!(
                "missing ranks: {} (of {}): no snapshot of theirs was given\n",
                list.join(", "),
                self.world_size.unwrap_or(0)
            ));
        }
        out
    }
}

/// Reads every file and merges them as ranks of one run, in rank order (each file's columns
/// kept, its ranks appended after the lower ones). A rank found in two files, or a file holding
/// no rank, is an error naming the files.
pub fn merge_files(files: &[PathBuf]) -> io::Result<Profile> {
    merge_files_reporting(files).map(|(p, _)| p)
}

/// [`merge_files`], and where each rank came from and which ranks are missing.
pub fn merge_files_reporting(files: &[PathBuf]) -> io::Result<(Profile, MergeReport)> {
    let mut parts: Vec<(u32, &Path, Profile)> = Vec::with_capacity(files.len());
    for file in files {
        let p = read_profile(file)?;
        let first = p.ranks.iter().map(|r| r.rank).min().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: the profile names no rank", file.display()),
            )
        })?;
        parts.push((first, file, p));
    }
    parts.sort_by_key(|(rank, _, _)| *rank);
    let mut report = MergeReport {
        ranks: Vec::new(),
        world_size: None,
    };
    for (_, file, p) in &parts {
        let meta = |k: &str| p.metadata.get(k);
        if let Some(size) = meta("mpi.world.size").and_then(|v| v.as_u64()) {
            report.world_size = report.world_size.max(Some(size as u32));
        }
        for r in &p.ranks {
            if let Some(other) = report.ranks.iter().find(|m| m.rank == r.rank) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "rank {} is in both {} and {}",
                        r.rank,
                        other.file.display(),
                        file.display()
                    ),
                ));
            }
            report.ranks.push(MergedRank {
                rank: r.rank,
                file: file.to_path_buf(),
                reason: meta("snapshot.reason")
                    .and_then(|v| v.as_str())
                    .map(String::from),
                taken_unix: meta("snapshot.unix").and_then(|v| v.as_f64()),
            });
        }
    }
    // One fold in the mergeable form: the dense per-rank table is built once, not per file.
    let mut merged = Profile::concat_all(parts.into_iter().map(|(_, _, p)| p))
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no profile to merge"))?;
    // The merged profile is the job's: one snapshot's reason and time no longer describe it.
    merged.metadata.remove("snapshot.reason");
    merged.metadata.remove("snapshot.unix");
    merged.metadata.remove("snapshot.open_regions");
    Ok((merged, report))
}

/// The profile files a `rankscope merge` argument names: a file as it is; a folder holding a
/// `profile.json`, that file; otherwise every `profile.json` one level down in folders named
/// like rank snapshots (`...-rank<N>`, `...-rank<N>-<k>`), in name order.
pub fn profile_files(arg: &Path) -> io::Result<Vec<PathBuf>> {
    if !arg.is_dir() {
        return Ok(vec![arg.to_path_buf()]);
    }
    if arg.join("profile.json").is_file() {
        return Ok(vec![arg.join("profile.json")]);
    }
    let mut found = Vec::new();
    for entry in std::fs::read_dir(arg)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", arg.display())))?
    {
        let dir = entry?.path();
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if is_snapshot_folder(name) && dir.join("profile.json").is_file() {
            found.push(dir.join("profile.json"));
        }
    }
    found.sort();
    if found.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "{}: no profile.json in it, nor in rank snapshot folders (<output_path>-rank<N>) under it",
                arg.display()
            ),
        ));
    }
    Ok(found)
}

/// `...-rank<N>` or `...-rank<N>-<k>` (a suffix from a folder that already existed).
fn is_snapshot_folder(name: &str) -> bool {
    let Some(at) = name.rfind("-rank") else {
        return false;
    };
    let rest = &name[at + "-rank".len()..];
    let (rank, suffix) = rest.split_once('-').unwrap_or((rest, "0"));
    !rank.is_empty()
        && rank.bytes().all(|b| b.is_ascii_digit())
        && !suffix.is_empty()
        && suffix.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_gives_each_rank_its_age_and_names_the_missing_ones() {
        let rank = |rank, reason: Option<&str>, taken_unix| MergedRank {
            rank,
            file: PathBuf::from(format!("out-rank{rank}/profile.json")),
            reason: reason.map(str::to_string),
            taken_unix,
        };
        let report = MergeReport {
            ranks: vec![
                rank(0, Some("SIGTERM"), Some(97.0)),
                rank(1, None, Some(90.0)),
                rank(3, None, None),
            ],
            world_size: Some(5),
        };
        let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(100);
        assert_eq!(
            report.summary(now),
            "rank 0: out-rank0/profile.json (SIGTERM snapshot, 3 s old)\n\
             rank 1: out-rank1/profile.json (10 s old)\n\
             rank 3: out-rank3/profile.json\n\
             missing ranks: 2, 4 (of 5): no snapshot of theirs was given\n"
        );
    }

    #[test]
    fn snapshot_folder_names() {
        for yes in ["out-rank0", "rankscope-output-rank12", "out-rank3-2"] {
            assert!(is_snapshot_folder(yes), "{yes}");
        }
        for no in [
            "out",
            "out-rank",
            "out-rankx",
            "out-rank3-",
            "out-rank3-b",
            "merged",
        ] {
            assert!(!is_snapshot_folder(no), "{no}");
        }
    }
    use crate::output::{sample, to_json};

    fn write(dir: &Path, name: &str, p: &Profile) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, to_json(p).unwrap()).unwrap();
        path
    }

    #[test]
    fn merging_the_rank_views_gives_back_the_merged_profile() {
        let tmp = tempfile::tempdir().unwrap();
        let multi = sample::multi();
        // given in reverse order: merging sorts by rank
        let files: Vec<PathBuf> = (0..multi.ranks.len())
            .rev()
            .map(|col| write(tmp.path(), &format!("r{col}.json"), &multi.rank_view(col)))
            .collect();
        let merged = merge_files(&files).unwrap();
        assert_eq!(merged.ranks, multi.ranks);
        assert_eq!(merged.nodes, multi.nodes);
    }

    #[test]
    fn a_rank_twice_or_no_file_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let one = sample::single();
        let a = write(tmp.path(), "a.json", &one);
        let b = write(tmp.path(), "b.json", &one);
        let err = merge_files(&[a, b]).unwrap_err().to_string();
        assert!(
            err.contains("rank 0 is in both") && err.contains("a.json"),
            "{err}"
        );
        assert!(merge_files(&[]).is_err());
    }
}
