//! Merging profiles written separately (per-rank snapshots of `rank_output`, or of a job that
//! died before its reduction) into the one answer rank 0 would have written.

use super::read_profile;
use crate::profile::Profile;
use std::io;
use std::path::{Path, PathBuf};

/// Reads every file and merges them as ranks of one run, in rank order (each file's columns
/// kept, its ranks appended after the lower ones). A rank found in two files, or a file holding
/// no rank, is an error naming the files.
pub fn merge_files(files: &[PathBuf]) -> io::Result<Profile> {
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
    let mut seen: Vec<(u32, &Path)> = Vec::new();
    for (_, file, p) in &parts {
        for r in &p.ranks {
            if let Some((_, other)) = seen.iter().find(|(s, _)| *s == r.rank) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "rank {} is in both {} and {}",
                        r.rank,
                        other.display(),
                        file.display()
                    ),
                ));
            }
            seen.push((r.rank, file));
        }
    }
    let mut parts = parts.into_iter().map(|(_, _, p)| p);
    let mut merged = parts
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no profile to merge"))?;
    parts.for_each(|p| merged.concat_ranks(p));
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;
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
