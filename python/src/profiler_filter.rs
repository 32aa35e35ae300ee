//! Which calls the function profiler records: regular expressions searched in the function's
//! name and in its file. The profiler asks once per code object (or C function and caller) and
//! caches the answer with the region, so a filter costs nothing per call.
//!
//! A profiling session's bundle and filter are interned together as one [`Setup`]: its address
//! is a word of the profiler's cache keys, so a decision made under one filter is never reused
//! under another.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use rankscope::bundle::Bundle;
use rankscope::settings::Settings;
use regex::Regex;
use std::sync::Mutex;

/// The four patterns as given (empty: no such filter); the settings that stand in for a
/// pattern not given, in the same order.
pub(crate) type Patterns = [String; 4];

/// The settings read when a profiler was given no pattern: one per field of [`Patterns`] (the
/// names of the fields [`setup`] reads, for its messages).
pub(crate) const SETTINGS: [&str; 4] = [
    "profile_include",
    "profile_exclude",
    "profile_include_file",
    "profile_exclude_file",
];

/// The arguments of `profile(...)` that give the patterns, in the order of [`Patterns`].
pub(crate) const ARGUMENTS: [&str; 4] = ["include", "exclude", "include_file", "exclude_file"];

/// Compiled patterns; `None` where no filter is set.
#[derive(Debug)]
pub(crate) struct Filter {
    include: Option<Regex>,
    exclude: Option<Regex>,
    include_file: Option<Regex>,
    exclude_file: Option<Regex>,
}

impl Filter {
    /// Compiles the patterns: a pattern that does not compile filters nothing, and its error
    /// (naming its source `what[i]` and the reason) is returned beside.
    fn compile(patterns: &Patterns, what: &[&str; 4]) -> (Filter, Vec<String>) {
        let mut errors = Vec::new();
        let mut compiled = patterns.iter().zip(what).map(|(text, name)| {
            if text.is_empty() {
                return None;
            }
            Regex::new(text)
                .map_err(|e| {
                    errors.push(format!(
                        "{name}={text:?} is not a valid regular expression: {e}"
                    ))
                })
                .ok()
        });
        let mut next = || compiled.next().flatten();
        let filter = Filter {
            include: next(),
            exclude: next(),
            include_file: next(),
            exclude_file: next(),
        };
        drop(compiled);
        (filter, errors)
    }

    /// Whether calls of the function `name` in `file` are recorded: both match their include
    /// pattern (when set) and neither matches its exclude pattern.
    pub(crate) fn records(&self, name: &str, file: &str) -> bool {
        let passes = |include: &Option<Regex>, exclude: &Option<Regex>, text: &str| {
            include.as_ref().is_none_or(|r| r.is_match(text))
                && !exclude.as_ref().is_some_and(|r| r.is_match(text))
        };
        passes(&self.include, &self.exclude, name)
            && passes(&self.include_file, &self.exclude_file, file)
    }
}

/// What one profiling session records with: interned, so its address identifies it.
pub(crate) struct Setup {
    pub(crate) bundle: &'static Bundle,
    pub(crate) filter: Filter,
    patterns: Patterns,
}

/// Every setup made so far (few: one per distinct bundle and patterns).
static SETUPS: Mutex<Vec<&'static Setup>> = Mutex::new(Vec::new());

/// Checks patterns given to `profile(...)`: ValueError naming the argument when one is not a
/// valid regular expression.
pub(crate) fn check(patterns: &Patterns) -> PyResult<()> {
    match Filter::compile(patterns, &ARGUMENTS).1.into_iter().next() {
        Some(error) => Err(PyValueError::new_err(error)),
        None => Ok(()),
    }
}

/// The setup for `bundle` with `given` patterns, a pattern not given (`None`) taken from its
/// setting in `settings`. A setting that is not a valid regular expression is reported on stderr
/// (once per setup made) and filters nothing: a wrong setting must not change what the profiled
/// program does.
pub(crate) fn setup(
    bundle: &'static Bundle,
    given: &[Option<String>; 4],
    settings: &Settings,
) -> &'static Setup {
    let from_settings = [
        &settings.profile_include,
        &settings.profile_exclude,
        &settings.profile_include_file,
        &settings.profile_exclude_file,
    ];
    let patterns: Patterns =
        std::array::from_fn(|i| given[i].clone().unwrap_or_else(|| from_settings[i].clone()));
    let mut setups = SETUPS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(found) = setups
        .iter()
        .find(|s| std::ptr::eq(s.bundle, bundle) && s.patterns == patterns)
    {
        return found;
    }
    let (filter, errors) = Filter::compile(&patterns, &SETTINGS);
    for error in errors {
        rankscope::log::emit(
            "error: ",
            format_args!("setting {error}; the profiler ignores it"),
        );
    }
    let made: &'static Setup = Box::leak(Box::new(Setup {
        bundle,
        filter,
        patterns,
    }));
    setups.push(made);
    made
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(patterns: [&str; 4]) -> Filter {
        let (filter, errors) = Filter::compile(&patterns.map(String::from), &ARGUMENTS);
        assert!(errors.is_empty(), "{errors:?}");
        filter
    }

    #[test]
    fn include_and_exclude_by_name_and_file() {
        let all = filter(["", "", "", ""]);
        assert!(all.records("main", "/app/run.py"));

        let only_solve = filter(["^solve", "", "", ""]);
        assert!(only_solve.records("solve_all", "/app/run.py"));
        assert!(!only_solve.records("main", "/app/run.py"));

        let no_helpers = filter(["", "helper|_private", "", ""]);
        assert!(no_helpers.records("main", "x.py"));
        assert!(!no_helpers.records("Obj._private", "x.py"));

        let app_files = filter(["", "", r"/app/", r"_test\.py$"]);
        assert!(app_files.records("f", "/app/run.py"));
        assert!(!app_files.records("f", "/usr/lib/python3.11/json/decoder.py"));
        assert!(!app_files.records("f", "/app/run_test.py"));

        let both = filter(["solve", "", "", "vendor"]);
        assert!(!both.records("solve", "/vendor/solve.py"));
        assert!(!both.records("main", "/app/main.py"));
    }

    #[test]
    fn a_bad_pattern_names_its_argument_and_filters_nothing() {
        let bad = [
            "^a".to_string(),
            "(".to_string(),
            String::new(),
            String::new(),
        ];
        let (filter, errors) = Filter::compile(&bad, &ARGUMENTS);
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with("exclude=\"(\" is not a valid regular expression"),
            "{errors:?}"
        );
        assert!(filter.records("abc", "x.py") && !filter.records("b", "x.py"));
    }
}
