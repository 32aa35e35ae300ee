//! Output writers: where a finished [`Profile`] goes.
//!
//! [`write_all`] claims a fresh folder and writes every enabled output into it. Each output is
//! one entry of the short list in [`outputs`]: a file name and a function from the profile to
//! bytes: native JSON, HDF5 (with the `hdf5` feature), Caliper json-split and its summary, the
//! text report, DART lines and the Chrome/Perfetto timeline. `rank-<N>.json` per rank (setting
//! `collapse_processes` off) comes after them.

pub mod caliper;
mod check;
pub mod dart;
mod derived;
pub mod folder;
#[cfg(feature = "hdf5")]
pub mod hdf5;
pub mod json;
mod merge;
pub mod pstats;
#[cfg(test)]
mod sample;
pub mod text;
pub mod trace;

pub use check::{check, check_units};
pub use dart::dart_lines;
pub use folder::{civil_from_days, fallback_for, write_atomic, OutputDir};
pub use json::{parse_profile, read_profile, to_json};
pub use merge::{merge_files, merge_files_reporting, profile_files, MergeReport, MergedRank};
pub use text::{render as text_report, TextOptions};

use crate::log;
use crate::profile::Profile;
use std::io;
use std::path::PathBuf;
use std::time::Instant;

/// What to write and where; filled from the settings by the caller.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputOptions {
    /// Output folder (setting `output_path`); suffixed `-1`, `-2`, ... when it exists.
    pub output_path: PathBuf,
    /// Put outputs in a timestamped subfolder of `output_path` (setting `time_output`).
    pub time_output: bool,
    /// Prepended to every file name (setting `output_prefix`).
    pub prefix: String,
    /// Write `profile.json` (setting `json_output`).
    pub json_output: bool,
    /// Write `report.txt` (setting `text_output`).
    pub text_output: bool,
    /// Write `profile.h5` (setting `hdf5_output`; needs the `hdf5` feature).
    pub hdf5_output: bool,
    /// Write `profile.cali.json` and `profile-summary.cali.json` (setting `caliper_output`).
    pub caliper_output: bool,
    /// Also write each rank's own tree as `rank-<N>.json` (setting `collapse_processes` off).
    pub per_rank: bool,
    /// Write `profile.pstats`, and `rank-<N>.pstats` with `per_rank` (setting `pstats_output`).
    pub pstats_output: bool,
    /// Write `dart.txt` (setting `dart_output`).
    pub dart_output: bool,
    /// Write `trace.json` (settings `trace_output` or `timeline_profile`).
    pub trace_output: bool,
    /// Nodes per metric in `dart.txt` (setting `dart_count`).
    pub dart_count: usize,
    /// Number format of the text report.
    pub text: TextOptions,
}

impl Default for OutputOptions {
    fn default() -> Self {
        OutputOptions {
            output_path: PathBuf::from(folder::DEFAULT_FOLDER),
            time_output: false,
            prefix: String::new(),
            json_output: true,
            text_output: true,
            hdf5_output: true,
            caliper_output: true,
            per_rank: false,
            pstats_output: false,
            dart_output: false,
            dart_count: 1,
            trace_output: false,
            text: TextOptions::default(),
        }
    }
}

/// Turns a profile into the bytes of one output file.
pub type Render = fn(&Profile, &OutputOptions) -> io::Result<Vec<u8>>;

/// Every output: whether the options enable it, its file name, how to produce it. Public so
/// that the fuzz targets (fuzz/) run every writer this build has, a new one included.
pub fn outputs(o: &OutputOptions) -> Vec<(bool, &'static str, Render)> {
    vec![
        (o.json_output, "profile.json", |p, _| to_json(p)),
        #[cfg(feature = "hdf5")]
        (o.hdf5_output, "profile.h5", |p, _| hdf5::to_hdf5(p)),
        (o.caliper_output, "profile.cali.json", |p, _| {
            caliper::to_caliper_json(p)
        }),
        (o.caliper_output, "profile-summary.cali.json", |p, _| {
            caliper::to_caliper_summary_json(p)
        }),
        (o.pstats_output, "profile.pstats", |p, _| {
            pstats::to_pstats(p)
        }),
        (o.text_output, "report.txt", |p, o| {
            Ok(text_report(p, &o.text).into_bytes())
        }),
        (o.trace_output, "trace.json", |p, _| trace::to_trace_json(p)),
        (o.dart_output, "dart.txt", |p, o| {
            let mut lines = dart_lines(p, o.dart_count).join("\n");
            lines.push('\n');
            Ok(lines.into_bytes())
        }),
    ]
}

/// Claims a new output folder and writes every enabled output there; returns the files written.
/// Creates no folder when nothing is enabled. One failing output does not stop the others: the
/// error then lists every failure and what was written anyway.
pub fn write_all(profile: &Profile, o: &OutputOptions) -> io::Result<Vec<PathBuf>> {
    let enabled: Vec<_> = outputs(o).into_iter().filter(|w| w.0).collect();
    if enabled.is_empty() {
        return Ok(Vec::new());
    }
    let dir = OutputDir::create(&o.output_path, o.time_output, &o.prefix)?;
    let names: Vec<&str> = enabled.iter().map(|w| w.1).collect();
    log::debug!("writers: {}", names.join(", "));
    let (mut written, mut failed) = (Vec::new(), Vec::new());
    for (_, name, render) in enabled {
        if name == "profile.cali.json" && profile.ranks.is_empty() && profile.rank_count() > 1 {
            // One row per rank and node: with no rank's values kept there is nothing to write
            // (the summary file has the statistics over ranks).
            log::info!(1, "{name}: not written, no rank's values were kept");
            continue;
        }
        let began = Instant::now();
        match render(profile, o).and_then(|bytes| Ok((bytes.len(), dir.write(name, &bytes)?))) {
            Ok((bytes, path)) => {
                log::info!(
                    2,
                    "{name}: {bytes} bytes in {:.3} s",
                    began.elapsed().as_secs_f64()
                );
                written.push(path)
            }
            Err(e) => failed.push(e),
        }
    }
    if o.per_rank && profile.ranks.len() > 1 {
        for (col, info) in profile.ranks.iter().enumerate() {
            let name = format!("rank-{}.json", info.rank);
            match to_json(&profile.rank_view(col)).and_then(|bytes| dir.write(&name, &bytes)) {
                Ok(path) => written.push(path),
                Err(e) => failed.push(e),
            }
            if o.pstats_output {
                let name = format!("rank-{}.pstats", info.rank);
                match pstats::to_pstats(&profile.rank_view(col))
                    .and_then(|bytes| dir.write(&name, &bytes))
                {
                    Ok(path) => written.push(path),
                    Err(e) => failed.push(e),
                }
            }
        }
    }
    match failed.len() {
        0 => Ok(written),
        _ => {
            let mut msg: Vec<String> = failed.iter().map(|e| e.to_string()).collect();
            if !written.is_empty() {
                let names: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
                msg.push(format!("written anyway: {}", names.join(", ")));
            }
            Err(io::Error::new(failed[0].kind(), msg.join("; ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_writer_and_per_rank_trees_for_several_ranks() {
        let tmp = tempfile::tempdir().unwrap();
        let o = OutputOptions {
            output_path: tmp.path().join("all"),
            per_rank: true,
            ..Default::default()
        };
        let p = sample::multi();
        let files = write_all(&p, &o).unwrap();
        let names: Vec<String> = files
            .iter()
            .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        for want in [
            "profile.json",
            "profile.cali.json",
            "profile-summary.cali.json",
        ] {
            assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
        }
        #[cfg(feature = "hdf5")]
        assert!(names.iter().any(|n| n == "profile.h5"), "{names:?}");
        for (col, info) in p.ranks.iter().enumerate() {
            let file = tmp.path().join(format!("all/rank-{}.json", info.rank));
            assert_eq!(read_profile(&file).unwrap(), p.rank_view(col));
        }
    }

    #[test]
    fn writes_enabled_outputs_into_a_fresh_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let o = OutputOptions {
            output_path: tmp.path().join("out"),
            prefix: "t-".into(),
            dart_output: true,
            hdf5_output: false,
            caliper_output: false,
            ..Default::default()
        };
        let p = sample::single();
        let files = write_all(&p, &o).unwrap();
        let dir = tmp.path().join("out");
        assert_eq!(
            files,
            [
                dir.join("t-profile.json"),
                dir.join("t-report.txt"),
                dir.join("t-dart.txt")
            ]
        );
        assert_eq!(read_profile(&files[0]).unwrap(), p);
        let report = std::fs::read_to_string(&files[1]).unwrap();
        assert_eq!(report, text_report(&p, &TextOptions::default()));
        let dart = std::fs::read_to_string(&files[2]).unwrap();
        assert_eq!(dart.lines().count(), 2, "dart_count 1, two metrics");

        let again = write_all(&p, &o).unwrap();
        assert_eq!(again[0], tmp.path().join("out-1/t-profile.json"));

        let none = OutputOptions {
            output_path: tmp.path().join("nothing"),
            json_output: false,
            text_output: false,
            hdf5_output: false,
            caliper_output: false,
            ..Default::default()
        };
        assert!(write_all(&p, &none).unwrap().is_empty());
        assert!(!tmp.path().join("nothing").exists());
    }
}
