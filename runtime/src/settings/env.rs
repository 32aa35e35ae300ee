//! Reading settings from `RANKSCOPE_*` environment variables.
//!
//! Pure functions over a list of variables, so they can be tested without touching the
//! process environment; [`super::state`] feeds them `std::env::vars_os()`.

use super::error::Problem;
use super::options::rows;
use super::table::{Settings, ENV_PREFIX};
use crate::suggest::closest;
use std::collections::BTreeMap;
use std::ffi::OsString;

/// `RANKSCOPE_*` variables that are read by other parts of rankscope and are not settings, so
/// they are not reported as unknown. Add a variable here when another module starts reading one.
pub static OTHER_ENV_VARS: &[&str] = &[
    // Rewrites docs/settings.md from the table when its test runs.
    "RANKSCOPE_BLESS",
];

/// What reading the environment found.
#[derive(Debug, Default)]
pub(crate) struct EnvReport {
    /// Rejected values, in table order.
    pub problems: Vec<Problem>,
    /// Unknown `RANKSCOPE_*` variables, sorted by name.
    pub warnings: Vec<String>,
}

/// Applies every `RANKSCOPE_*` variable in `vars` that names a setting to `settings`.
///
/// Settings without a variable are left as they are. A rejected value leaves its setting as it
/// was and is reported; the other variables are still applied (callers that want all-or-nothing
/// apply to a copy and drop it on error).
pub(crate) fn apply_env(
    settings: &mut Settings,
    vars: impl IntoIterator<Item = (OsString, OsString)>,
) -> EnvReport {
    let mut report = EnvReport::default();
    let mut ours = BTreeMap::new();
    for (name, value) in vars {
        match name.into_string() {
            Ok(name) if name.starts_with(ENV_PREFIX) => {
                ours.insert(name, value);
            }
            Ok(_) => {}
            Err(name) => {
                let lossy = name.to_string_lossy();
                if lossy.starts_with(ENV_PREFIX) {
                    report.warnings.push(format!(
                        "ignoring environment variable {lossy:?}: its name is not valid UTF-8"
                    ));
                }
            }
        }
    }
    for row in rows() {
        let Some(value) = ours.remove(row.env_var) else {
            continue;
        };
        let outcome = match value.into_string() {
            Ok(text) => settings.assign(row.name, &text, Some(row.env_var)),
            Err(raw) => Err(Problem::InvalidValue {
                setting: row.name,
                env_var: Some(row.env_var),
                value: raw.to_string_lossy().into_owned(),
                expected: "valid UTF-8 text".into(),
            }),
        };
        if let Err(problem) = outcome {
            report.problems.push(problem);
        }
    }
    for name in ours.keys() {
        if !OTHER_ENV_VARS.contains(&name.as_str()) {
            report.warnings.push(unknown_variable(name));
        }
    }
    report
}

/// The warning for a `RANKSCOPE_*` variable that is not a setting.
fn unknown_variable(var: &str) -> String {
    let typed = &var[ENV_PREFIX.len()..];
    let near = closest(typed, rows().iter().map(|row| row.name))
        .and_then(|name| rows().iter().find(|row| row.name == name));
    match near {
        Some(row) => format!(
            "unknown environment variable {var} ignored; did you mean {}?",
            row.env_var
        ),
        None => format!(
            "unknown environment variable {var} ignored; the settings are listed in docs/settings.md"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::MpiThread;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect()
    }

    #[test]
    fn present_variables_are_applied_absent_ones_leave_values_alone() {
        let mut s = Settings {
            precision: 7,
            ..Settings::default()
        };
        let report = apply_env(
            &mut s,
            vars(&[
                ("RANKSCOPE_JSON_OUTPUT", "off"),
                ("RANKSCOPE_MAX_DEPTH", " 12 "),
                ("RANKSCOPE_COMPONENTS", "wall_clock,peak_rss cpu_clock"),
                ("RANKSCOPE_MPI_THREAD_TYPE", "Funneled"),
                ("RANKSCOPE_OUTPUT_PREFIX", "run1-"),
                ("PATH", "/bin"),
                ("rankscope_debug", "on"),
            ]),
        );
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
        assert!(!s.json_output);
        assert_eq!(s.max_depth, 12);
        assert_eq!(s.components, ["wall_clock", "peak_rss", "cpu_clock"]);
        assert_eq!(s.mpi_thread_type, MpiThread::Funneled);
        assert_eq!(s.output_prefix, "run1-");
        assert_eq!(s.precision, 7, "no variable: value kept");
        assert!(!s.debug, "variable names are case-sensitive");
    }

    #[test]
    fn every_bad_variable_is_reported_and_the_good_ones_still_apply() {
        let mut s = Settings::default();
        let report = apply_env(
            &mut s,
            vars(&[
                ("RANKSCOPE_TEXT_OUTPUT", "perhaps"),
                ("RANKSCOPE_JSON_OUTPUT", "maybe"),
                ("RANKSCOPE_MAX_DEPTH", "-1"),
                ("RANKSCOPE_WIDTH", "4294967296"),
                ("RANKSCOPE_MPI_THREAD_TYPE", "many"),
                ("RANKSCOPE_PRECISION", "5"),
            ]),
        );
        let messages: Vec<String> = report.problems.iter().map(|p| p.to_string()).collect();
        // Table order, not environment order.
        assert_eq!(
            messages,
            [
                "RANKSCOPE_JSON_OUTPUT=maybe: expected a boolean (ON/OFF, true/false, 1/0, yes/no)",
                "RANKSCOPE_TEXT_OUTPUT=perhaps: expected a boolean (ON/OFF, true/false, 1/0, yes/no)",
                "RANKSCOPE_MAX_DEPTH=-1: expected an integer from 0 to 4294967295",
                "RANKSCOPE_WIDTH=4294967296: expected an integer from 0 to 4294967295",
                "RANKSCOPE_MPI_THREAD_TYPE=many: expected one of single, funneled, serialized, multiple (any case)",
            ]
        );
        let defaults = Settings::default();
        assert_eq!(s.precision, 5);
        assert_eq!(
            (
                s.json_output,
                s.text_output,
                s.max_depth,
                s.width,
                s.mpi_thread_type
            ),
            (
                defaults.json_output,
                defaults.text_output,
                defaults.max_depth,
                defaults.width,
                defaults.mpi_thread_type
            )
        );
    }

    #[test]
    fn unknown_variables_are_warnings_with_the_closest_name() {
        let mut s = Settings::default();
        let report = apply_env(
            &mut s,
            vars(&[
                ("RANKSCOPE_JSON_OUTPT", "on"),
                ("RANKSCOPE_BANANA_SPLIT", "on"),
                ("RANKSCOPE_BLESS", "1"),
            ]),
        );
        assert!(report.problems.is_empty());
        assert_eq!(
            report.warnings,
            [
                "unknown environment variable RANKSCOPE_BANANA_SPLIT ignored; the settings are listed in docs/settings.md",
                "unknown environment variable RANKSCOPE_JSON_OUTPT ignored; did you mean RANKSCOPE_JSON_OUTPUT?",
            ]
        );
        assert_eq!(s, Settings::default());
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_is_reported_not_panicked_on() {
        use std::os::unix::ffi::OsStringExt;
        let mut s = Settings::default();
        let report = apply_env(
            &mut s,
            [
                (
                    OsString::from("RANKSCOPE_OUTPUT_PATH"),
                    OsString::from_vec(b"out\xff".to_vec()),
                ),
                (
                    OsString::from_vec(b"RANKSCOPE_\xfe".to_vec()),
                    OsString::from("x"),
                ),
            ],
        );
        assert_eq!(report.problems.len(), 1);
        let message = report.problems[0].to_string();
        assert!(message.starts_with("RANKSCOPE_OUTPUT_PATH="), "{message}");
        assert!(message.ends_with("expected valid UTF-8 text"), "{message}");
        assert_eq!(report.warnings.len(), 1);
        assert!(report.warnings[0].contains("not valid UTF-8"));
        assert_eq!(s, Settings::default());
    }

    #[test]
    fn empty_values_are_strings_but_not_booleans_or_numbers() {
        let mut s = Settings {
            output_prefix: "x".into(),
            ..Settings::default()
        };
        let report = apply_env(
            &mut s,
            vars(&[
                ("RANKSCOPE_OUTPUT_PREFIX", ""),
                ("RANKSCOPE_DEBUG", ""),
                ("RANKSCOPE_VERBOSE", ""),
                ("RANKSCOPE_COMPONENTS", ""),
            ]),
        );
        assert_eq!(s.output_prefix, "");
        assert!(s.components.is_empty());
        let messages: Vec<String> = report.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            messages,
            [
                "RANKSCOPE_VERBOSE=\"\": expected an integer from 0 to 4294967295",
                "RANKSCOPE_DEBUG=\"\": expected a boolean (ON/OFF, true/false, 1/0, yes/no)",
            ]
        );
    }
}
