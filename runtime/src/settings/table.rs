//! The table of settings: one row per setting, and the macro that turns the rows into the
//! [`Settings`] struct, its `Default`, [`TABLE`] and text access by name.
//!
//! To add a setting, add a row below (and a spelling test if it has a new type); the struct,
//! environment variable, `set`/`get_text`, the reference in `docs/settings.md` (regenerate it,
//! see that file) and the Python layer all follow from the row.

use super::error::Problem;
use super::options::{option_info, rows, OptionValues};
use super::value::{Kind, MpiThread, RankSet, SettingValue};
use super::SettingsError;
use crate::suggest::closest;

/// Prefix of every setting's environment variable.
pub const ENV_PREFIX: &str = "RANKSCOPE_";

/// Everything known about one setting: what docs, error messages and other language layers need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SettingInfo {
    /// The setting's name, also the field of [`Settings`] (`json_output`).
    pub name: &'static str,
    /// The environment variable that sets it: `RANKSCOPE_` and the name in upper case.
    pub env_var: &'static str,
    /// Short type name (`bool`, `u32`, `string`, `list`, `choice`).
    pub type_name: &'static str,
    /// The default, as canonical text (`true`, `65535`, `wall_clock`; empty for an empty string).
    pub default: &'static str,
    /// The accepted spellings (`ON/OFF, true/false, 1/0, yes/no`).
    pub accepted: &'static str,
    /// One line saying what the setting does.
    pub doc: &'static str,
    /// The shape of the values.
    pub kind: Kind,
}

/// Builds `RANKSCOPE_<NAME>` at compile time; `N` must be the length of the result.
pub(crate) const fn env_var_bytes<const N: usize>(name: &str) -> [u8; N] {
    let prefix = ENV_PREFIX.as_bytes();
    let name = name.as_bytes();
    assert!(prefix.len() + name.len() == N);
    let mut out = [0u8; N];
    let mut i = 0;
    while i < prefix.len() {
        out[i] = prefix[i];
        i += 1;
    }
    let mut j = 0;
    while j < name.len() {
        out[i + j] = name[j].to_ascii_uppercase();
        j += 1;
    }
    out
}

/// `RANKSCOPE_<NAME>` for a name known only at run time (a collector's option); leaked once per
/// option, as the table's rows are `'static`.
pub(crate) fn env_var_bytes_dyn(name: &str) -> &'static str {
    Box::leak(format!("{ENV_PREFIX}{}", name.to_ascii_uppercase()).into_boxed_str())
}

/// `RANKSCOPE_<NAME>` for a setting name, as a `&'static str` usable in a static.
macro_rules! env_var_of {
    ($name:ident) => {{
        const LEN: usize = ENV_PREFIX.len() + stringify!($name).len();
        const BYTES: [u8; LEN] = env_var_bytes::<LEN>(stringify!($name));
        const TEXT: &str = match ::core::str::from_utf8(&BYTES) {
            Ok(text) => text,
            Err(_) => panic!("setting names must be ASCII"),
        };
        TEXT
    }};
}

/// Takes rows `name: Type = "default text", "one-line doc";` and generates [`Settings`], its
/// `Default`, [`TABLE`] and `Settings::{get_text, set_text}`.
macro_rules! settings_table {
    ($( $name:ident : $ty:ty = $default:literal , $doc:literal ; )+) => {
        /// Every rankscope setting, as typed values.
        ///
        /// The process-wide current settings are [`current()`](super::current); a `Settings` value on
        /// its own is just data. Field docs are the one-line docs of [`TABLE`].
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct Settings {
            $(
                #[doc = $doc]
                pub $name: $ty,
            )+
            /// The options declared by collectors (`perf_events`, ...), as text.
            pub options: OptionValues,
        }

        impl Default for Settings {
            fn default() -> Self {
                // Every default text parses (checked by a test); the fallback only keeps this
                // function from panicking.
                Settings {
                    $( $name: <$ty as SettingValue>::parse_text($default).unwrap_or_default(), )+
                    options: OptionValues::default(),
                }
            }
        }

        /// One row per setting, in declaration order: the single source of truth for names,
        /// environment variables, types, defaults and docs.
        pub static TABLE: &[SettingInfo] = &[
            $(
                SettingInfo {
                    name: stringify!($name),
                    env_var: env_var_of!($name),
                    type_name: <$ty as SettingValue>::TYPE_NAME,
                    default: $default,
                    accepted: <$ty as SettingValue>::ACCEPTED,
                    doc: $doc,
                    kind: <$ty as SettingValue>::KIND,
                },
            )+
        ];

        impl Settings {
            /// The value of setting `name` as canonical text, or `None` if there is no such setting.
            pub fn get_text(&self, name: &str) -> Option<String> {
                match name {
                    $( stringify!($name) => Some(SettingValue::to_text(&self.$name)), )+
                    _ => self.options.get(name).map(str::to_owned),
                }
            }

            /// Sets setting `name` from text, with the same spellings as its environment variable.
            ///
            /// On error (unknown name, with the closest valid one; or a rejected value) nothing changes.
            pub fn set_text(&mut self, name: &str, value: &str) -> Result<(), SettingsError> {
                self.assign(name, value, None).map_err(SettingsError::from)
            }

            /// Sets setting `name` from text; `env_var` names the variable it came from, if any.
            pub(crate) fn assign(
                &mut self,
                name: &str,
                value: &str,
                env_var: Option<&'static str>,
            ) -> Result<(), Problem> {
                match name {
                    $(
                        stringify!($name) => match <$ty as SettingValue>::parse_text(value) {
                            Some(parsed) => {
                                self.$name = parsed;
                                Ok(())
                            }
                            None => Err(Problem::InvalidValue {
                                setting: stringify!($name),
                                env_var,
                                value: value.to_owned(),
                                expected: <$ty as SettingValue>::EXPECTED.into(),
                            }),
                        },
                    )+
                    _ => match option_info(name) {
                        Some(info) => match self.options.set(name, value, info) {
                            Some(Ok(())) => Ok(()),
                            Some(Err(why)) => Err(Problem::InvalidValue {
                                setting: info.name,
                                env_var,
                                value: value.to_owned(),
                                expected: why.into(),
                            }),
                            None => Err(unknown_setting(name)),
                        },
                        None => Err(unknown_setting(name)),
                    },
                }
            }
        }
    };
}

settings_table! {
    enabled: bool = "true",
        "Master switch: when off, regions do nothing and no output is written.";
    verbose: u32 = "0",
        "What rankscope says on stderr: 0 only errors and warnings, 1 also files written, reduction time and sizes, 2 also per-writer times.";
    debug: bool = "false",
        "Trace the runtime's decisions on stderr: MPI join or adopt, finalize order, writers run.";
    banner: bool = "true",
        "At exit, print one line saying where the outputs were written.";
    output_path: String = "rankscope-output",
        "Folder the outputs are written to (created if missing).";
    output_prefix: String = "",
        "Text put in front of every output file name.";
    time_output: bool = "false",
        "Put the outputs in a timestamped sub-folder of output_path.";
    json_output: bool = "true",
        "Write the profile as JSON.";
    text_output: bool = "true",
        "Write a human-readable text report.";
    hdf5_output: bool = "true",
        "Write the profile as HDF5.";
    caliper_output: bool = "true",
        "Write Caliper json-split files (per rank and summary) that Hatchet and Thicket load.";
    pstats_output: bool = "false",
        "Write profile.pstats: the call tree as Python's pstats (cProfile's marshal format) for pstats.Stats and snakeviz, summed over ranks (rank-<N>.pstats too with collapse_processes off).";
    trace_output: bool = "false",
        "Write trace.json, a Chrome Trace Event timeline (Perfetto, speedscope) of every region instance; turns on timeline_profile's recording.";
    flat_profile: bool = "false",
        "Record a flat profile: one entry per region name, without call-tree nesting.";
    timeline_profile: bool = "false",
        "Record a timeline: every region instance kept separately instead of aggregated (written as trace.json too).";
    timeline_max_events: u32 = "100000",
        "Most region instances a process keeps as timeline entries; later ones are aggregated per call path, with a note.";
    max_depth: u32 = "65535",
        "Deepest call-tree level recorded; regions nested deeper are not recorded.";
    precision: u32 = "3",
        "Digits after the decimal point in the text report.";
    width: u32 = "12",
        "Minimum width of a value column in the text report.";
    scientific: bool = "false",
        "Use scientific notation in the text report.";
    collapse_threads: bool = "true",
        "Merge the call trees of a process's threads into one (off: one tree per thread).";
    collapse_processes: bool = "true",
        "Merge the ranks' trees into one on rank 0 (off: keep one tree per rank).";
    components: Vec<String> = "wall_clock",
        "Components measured by default, e.g. wall_clock,peak_rss.";
    profile_c_calls: bool = "true",
        "profile also records calls of C functions (builtins, extension modules), named like cProfile's: {built-in method time.sleep}.";
    profile_include: String = "",
        "Regular expression searched in each function's qualified name (C functions: cProfile's name): profile records only the functions that match; empty: all.";
    profile_exclude: String = "",
        "Regular expression searched in each function's qualified name: profile never records the functions that match (their calls still count in the caller).";
    profile_include_file: String = "",
        "Regular expression searched in each function's file path (C functions: the caller's): profile records only functions in files that match; empty: all.";
    profile_exclude_file: String = "",
        "Regular expression searched in each function's file path (C functions: the caller's): profile never records functions in files that match.";
    dart_output: bool = "false",
        "Print DART measurement lines (for CTest/CDash dashboards).";
    dart_count: u32 = "1",
        "How many DART measurements to print per component.";
    mpi_thread: bool = "true",
        "When rankscope initialises MPI itself: MPI_Init_thread at level mpi_thread_type (on) or plain MPI_Init (off).";
    mpi_thread_type: MpiThread = "multiple",
        "Thread support level requested by MPI_Init_thread when mpi_thread is on.";
    mpi_init: bool = "true",
        "Let rankscope initialise MPI under a launcher when the program does not (Rust: at init; Python: at the first collective or at exit); an MPI the program initialised is adopted either way.";
    per_rank_max: u32 = "64",
        "Jobs of at most this many ranks send every rank's values to rank 0 (a column per rank in every output); larger jobs send statistics over ranks per node (with each node's smallest and largest rank) plus the values of rank_filter's ranks. Set it above the job's size to keep every rank.";
    rank_filter: RankSet = "",
        "Ranks whose values reach rank 0's outputs whatever the job's size, as ranks and ranges: 0-3,63.";
    per_rank_files: bool = "true",
        "In jobs larger than per_rank_max, every rank whose values do not go to rank 0 writes them itself to <output_path>-rank<N>/ at the end (rankscope merge assembles them); off: only the statistics remain.";
    rank_output: bool = "false",
        "Every rank also writes its own snapshot file, so a job that dies loses nothing (mergeable offline).";
    auto_output: bool = "true",
        "Write the outputs automatically at exit.";
    snapshot_interval: u32 = "0",
        "Every rank writes its own snapshot (no MPI call) every this many seconds, so a killed job loses at most that much; 0: never.";
    snapshot_signals: bool = "true",
        "On SIGTERM, SIGUSR1 and SIGXCPU every rank writes its snapshot, then the signal goes on to the program's handler or its default action (SIGUSR1 then only asks for the snapshot).";
    dump_after: u32 = "0",
        "Every rank writes its snapshot once, this many seconds after the start, without any MPI call (for jobs that may hang); 0: never.";
    sampler: bool = "false",
        "Run the per-rank sampler: memory and CPU of each rank over time, every sampler_interval seconds, in every output.";
    memory_builtins: bool = "false",
        "At import of rankscope.memory, put MEMPOINT, MEMLOGS, MEMPRINT, MEMTRACE and MEMORY into Python's builtins, as tracemem does (off: import them).";
    capture_max_calls: u32 = "100",
        "Calls of each function that rankscope.capture.intercept saves; later calls are only counted.";
    capture_max_bytes: u32 = "67108864",
        "Bytes of inputs that rankscope.capture.intercept saves per function (64 MiB); once reached, calls are only counted.";
}

/// The row of setting `name` (a collector's option included), if there is one.
pub fn info(name: &str) -> Option<&'static SettingInfo> {
    rows().iter().find(|row| row.name == name)
}

/// The problem for a name that is not a setting, with the closest one if it looks like a typo.
pub(crate) fn unknown_setting(name: &str) -> Problem {
    Problem::UnknownSetting {
        name: name.to_owned(),
        suggestion: closest(name, rows().iter().map(|row| row.name)),
    }
}

impl Settings {
    /// Every setting's name and canonical text, in table order, collectors' options last (e.g.
    /// for run metadata).
    pub fn entries(&self) -> Vec<(&'static str, String)> {
        rows()
            .iter()
            .filter_map(|row| Some((row.name, self.get_text(row.name)?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn env_vars_are_the_prefixed_upper_case_names() {
        for row in TABLE {
            assert_eq!(
                row.env_var,
                format!("RANKSCOPE_{}", row.name.to_uppercase())
            );
        }
        assert_eq!(info("max_depth").unwrap().env_var, "RANKSCOPE_MAX_DEPTH");
    }

    #[test]
    fn names_are_unique_lowercase_and_documented_in_one_line() {
        let mut seen = HashSet::new();
        for row in TABLE {
            assert!(seen.insert(row.name), "duplicate {}", row.name);
            assert!(row
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
            assert!(
                !row.doc.is_empty() && !row.doc.contains('\n'),
                "{}",
                row.name
            );
            assert!(row.doc.ends_with('.'), "{}", row.name);
        }
    }

    #[test]
    fn defaults_parse_and_are_canonical() {
        let defaults = Settings::default();
        for row in TABLE {
            // Parsing the default into a blank value must succeed...
            let mut blank = Settings::default();
            blank.set_text(row.name, row.default).unwrap();
            // ...and writing it back must give the same text.
            assert_eq!(
                defaults.get_text(row.name).as_deref(),
                Some(row.default),
                "{}",
                row.name
            );
        }
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let s = Settings::default();
        assert!(s.enabled && s.banner && s.json_output && s.text_output && s.hdf5_output);
        assert!(!s.debug && !s.time_output && !s.trace_output && !s.dart_output);
        assert!(s.collapse_threads && s.collapse_processes && s.auto_output && s.mpi_init);
        assert_eq!(s.verbose, 0);
        assert_eq!(s.output_path, "rankscope-output");
        assert_eq!(s.output_prefix, "");
        assert_eq!(
            (s.max_depth, s.precision, s.width, s.dart_count),
            (65535, 3, 12, 1)
        );
        assert_eq!(s.components, ["wall_clock"]);
        assert!(s.mpi_thread);
        assert_eq!(s.mpi_thread_type, MpiThread::Multiple);
    }

    /// A valid text for the row that differs from its default, and the canonical text it reads as.
    fn other_value(row: &SettingInfo) -> (String, String) {
        match row.kind {
            Kind::Bool if row.default == "true" => ("OFF".into(), "false".into()),
            Kind::Bool => (" Yes ".into(), "true".into()),
            Kind::Unsigned => (" 4294967295".into(), "4294967295".into()),
            Kind::Text => (
                " some path/with spaces ".into(),
                " some path/with spaces ".into(),
            ),
            Kind::List => ("a, b c".into(), "a,b,c".into()),
            Kind::Ranks => (" 63, 0-3 2".into(), "0-3,63".into()),
            Kind::Choice(names) => {
                let other = names.iter().find(|n| **n != row.default).unwrap();
                (other.to_uppercase(), other.to_string())
            }
        }
    }

    #[test]
    fn set_and_get_round_trip_for_every_row() {
        let mut s = Settings::default();
        for row in TABLE {
            let (text, canonical) = other_value(row);
            s.set_text(row.name, &text).unwrap();
            assert_eq!(
                s.get_text(row.name),
                Some(canonical.clone()),
                "{}",
                row.name
            );
            // The canonical text reads back as itself.
            s.set_text(row.name, &canonical).unwrap();
            assert_eq!(s.get_text(row.name), Some(canonical), "{}", row.name);
            s.set_text(row.name, row.default).unwrap();
            assert_eq!(s.get_text(row.name).as_deref(), Some(row.default));
        }
        assert_eq!(s, Settings::default());
        assert_eq!(s.entries().len(), rows().len());
    }

    #[test]
    fn every_choice_is_accepted() {
        let mut s = Settings::default();
        for row in TABLE {
            if let Kind::Choice(names) = row.kind {
                for name in names {
                    s.set_text(row.name, name).unwrap();
                    assert_eq!(s.get_text(row.name).as_deref(), Some(*name));
                }
            }
        }
    }

    #[test]
    fn rejected_values_leave_the_setting_alone_and_say_why() {
        let mut s = Settings::default();
        let error = s.set_text("max_depth", "deep").unwrap_err();
        assert_eq!(
            error.to_string(),
            "max_depth=deep: expected an integer from 0 to 4294967295"
        );
        let error = s.set_text("json_output", "maybe").unwrap_err();
        assert_eq!(
            error.to_string(),
            "json_output=maybe: expected a boolean (ON/OFF, true/false, 1/0, yes/no)"
        );
        let error = s.set_text("mpi_thread_type", "lots").unwrap_err();
        assert!(error
            .to_string()
            .contains("single, funneled, serialized, multiple"));
        assert_eq!(s, Settings::default());
    }

    #[test]
    fn unknown_names_suggest_the_closest() {
        let mut s = Settings::default();
        let error = s.set_text("json_outpt", "on").unwrap_err();
        assert!(error.is_unknown_setting());
        assert_eq!(
            error.problems(),
            [Problem::UnknownSetting {
                name: "json_outpt".into(),
                suggestion: Some("json_output")
            }]
        );
        assert!(error.to_string().contains("did you mean \"json_output\"?"));
        let error = s.set_text("JSON_OUTPUT", "on").unwrap_err();
        assert!(error.to_string().contains("did you mean \"json_output\"?"));
        let error = s.set_text("zzzzzz", "on").unwrap_err();
        assert!(!error.to_string().contains("did you mean"));
        assert_eq!(s.get_text("json_outpt"), None);
        assert_eq!(s, Settings::default());
    }
}
