//! The process-wide current settings.
//!
//! Readers take a cheap snapshot ([`current`]) and keep it while [`generation`] is unchanged.
//! Writers are serialised; each change publishes a whole new snapshot, then bumps the generation.

use super::env::{apply_env, EnvReport};
use super::{Settings, SettingsError};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};

struct Global {
    /// The published snapshot.
    current: RwLock<Arc<Settings>>,
    /// Held for a whole read-modify-write, so concurrent changes are not lost.
    writer: Mutex<()>,
    /// Problems of the first read of the environment.
    init_errors: Vec<String>,
    /// Warnings of the first read of the environment.
    init_warnings: Vec<String>,
}

static GLOBAL: OnceLock<Global> = OnceLock::new();
static GENERATION: AtomicU64 = AtomicU64::new(0);

fn global() -> &'static Global {
    GLOBAL.get_or_init(|| {
        let (settings, report) = initial(std::env::vars_os());
        Global {
            current: RwLock::new(Arc::new(settings)),
            writer: Mutex::new(()),
            init_errors: report.problems.iter().map(ToString::to_string).collect(),
            init_warnings: report.warnings,
        }
    })
}

/// The first settings of the process: defaults, then every valid variable; bad ones keep defaults.
pub(crate) fn initial(
    vars: impl IntoIterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
) -> (Settings, EnvReport) {
    let mut settings = Settings::default();
    let report = apply_env(&mut settings, vars);
    (settings, report)
}

/// The current settings: a shared snapshot that later changes do not affect.
///
/// The first call (of any function of this module) reads the environment; see [`init_errors`].
/// Cost: an uncontended read lock and an `Arc` clone.
pub fn current() -> Arc<Settings> {
    let lock = global()
        .current
        .read()
        .unwrap_or_else(PoisonError::into_inner);
    Arc::clone(&lock)
}

/// A counter bumped after every change to the current settings (a change that leaves every value
/// as it was does not count).
///
/// To cache settings, read the generation *before* calling [`current`], and call `current` again
/// when the generation differs from the one read; the snapshot is then never older than the
/// generation it is filed under.
#[inline] // polled at every region start
pub fn generation() -> u64 {
    GENERATION.load(Ordering::Relaxed)
}

/// Runs `change` on a copy of the current settings and publishes the copy if `change` succeeds
/// and changed something.
fn modify<T, E>(change: impl FnOnce(&mut Settings) -> Result<T, E>) -> Result<T, E> {
    let global = global();
    let _writer = global.writer.lock().unwrap_or_else(PoisonError::into_inner);
    let before = current();
    let mut next = Settings::clone(&before);
    let out = change(&mut next)?;
    if next != *before {
        let mut published = global
            .current
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        *published = Arc::new(next);
        // Bumped after the new snapshot is in place, while readers are still locked out.
        GENERATION.fetch_add(1, Ordering::Release);
    }
    Ok(out)
}

/// Sets setting `name` from text, with the same spellings as its environment variable
/// (`set("json_output", "off")`).
///
/// An unknown name is an error naming the closest valid setting; a rejected value changes nothing.
pub fn set(name: &str, value: &str) -> Result<(), SettingsError> {
    modify(|settings| settings.set_text(name, value))
}

/// The current value of setting `name` as canonical text, or `None` if there is no such setting.
pub fn get(name: &str) -> Option<String> {
    current().get_text(name)
}

/// Changes the current settings with typed Rust code (`update(|s| s.max_depth = 8)`).
///
/// `f` runs while other writers wait: it may call [`current`] and [`generation`], but calling
/// [`set`], [`update`], [`parse`], [`reload`] or [`reset`] from inside it deadlocks.
pub fn update(f: impl FnOnce(&mut Settings)) {
    let result: Result<(), Infallible> = modify(|settings| {
        f(settings);
        Ok(())
    });
    if let Err(never) = result {
        match never {}
    }
}

/// Reads every `RANKSCOPE_*` variable of the environment again and applies those that are present
/// on top of the current settings.
///
/// A setting whose variable is absent keeps its current value, whether that is its default or was
/// set in code; use [`reload`] to start again from the defaults. All rejected values are reported
/// together in one error, and on error nothing changes. On success, returns warnings about
/// `RANKSCOPE_*` variables that are not settings (with the closest valid name); the caller decides
/// whether to print them.
pub fn parse() -> Result<Vec<String>, SettingsError> {
    modify(read_environment)
}

/// Like [`parse`], but starts from the defaults: the result is defaults plus the environment,
/// and changes made in code are dropped. On error nothing changes.
pub fn reload() -> Result<Vec<String>, SettingsError> {
    modify(|settings| {
        *settings = Settings::default();
        read_environment(settings)
    })
}

/// Puts every setting back to its default, ignoring the environment.
pub fn reset() {
    update(|settings| *settings = Settings::default());
}

fn read_environment(settings: &mut Settings) -> Result<Vec<String>, SettingsError> {
    let report = apply_env(settings, std::env::vars_os());
    if report.problems.is_empty() {
        Ok(report.warnings)
    } else {
        Err(SettingsError::new(report.problems, report.warnings))
    }
}

/// Problems found when the environment was first read, one message per bad variable (those
/// settings kept their defaults). Empty when all was well. The runtime prints these on stderr.
pub fn init_errors() -> Vec<String> {
    global().init_errors.clone()
}

/// Warnings from the first read of the environment: `RANKSCOPE_*` variables that are not settings.
pub fn init_warnings() -> Vec<String> {
    global().init_warnings.clone()
}

/// Serialises the tests that touch the process-wide settings or environment.
#[cfg(test)]
pub(crate) fn test_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    //! These tests change process-wide state. They hold [`test_lock`], touch only settings that
    //! no other test depends on (`dart_count`, `verbose`), and put everything back.

    use super::*;
    use std::ffi::OsString;

    /// Sets (or removes) an environment variable and restores it when dropped.
    struct EnvGuard {
        name: &'static str,
        old: Option<OsString>,
    }

    impl EnvGuard {
        fn set(name: &'static str, value: Option<&str>) -> Self {
            let old = std::env::var_os(name);
            match value {
                Some(value) => std::env::set_var(name, value),
                None => std::env::remove_var(name),
            }
            EnvGuard { name, old }
        }
    }

    impl Drop for EnvGuard {
        fn drop(&mut self) {
            match &self.old {
                Some(old) => std::env::set_var(self.name, old),
                None => std::env::remove_var(self.name),
            }
        }
    }

    /// Restores `dart_count` and `verbose` when dropped.
    struct Restore(u32, u32);

    impl Restore {
        fn new() -> Self {
            let now = current();
            Restore(now.dart_count, now.verbose)
        }
    }

    impl Drop for Restore {
        fn drop(&mut self) {
            let (dart_count, verbose) = (self.0, self.1);
            update(|s| {
                s.dart_count = dart_count;
                s.verbose = verbose;
            });
        }
    }

    #[test]
    fn set_get_and_generation() {
        let _lock = test_lock();
        let _restore = Restore::new();
        update(|s| s.dart_count = 2);
        let before = current();
        let generation0 = generation();
        set("dart_count", "17").unwrap();
        assert_eq!(get("dart_count").as_deref(), Some("17"));
        assert_eq!(current().dart_count, 17);
        assert!(generation() > generation0);
        assert_eq!(before.dart_count, 2, "an old snapshot does not change");
        let generation1 = generation();
        set("dart_count", " 17 ").unwrap();
        assert_eq!(generation(), generation1, "no change, no bump");
        update(|s| s.dart_count = 18);
        assert_eq!(current().dart_count, 18);
        assert!(generation() > generation1);
    }

    #[test]
    fn failed_set_changes_nothing() {
        let _lock = test_lock();
        let generation0 = generation();
        let before = current();
        let error = set("dart_count", "many").unwrap_err();
        assert_eq!(
            error.to_string(),
            "dart_count=many: expected an integer from 0 to 4294967295"
        );
        let error = set("dart_cont", "3").unwrap_err();
        assert!(error.to_string().contains("did you mean \"dart_count\"?"));
        assert_eq!(generation(), generation0);
        assert_eq!(*current(), *before);
        assert_eq!(get("no_such_setting"), None);
    }

    #[test]
    fn parse_overlays_present_variables_and_reports_all_errors() {
        let _lock = test_lock();
        let _restore = Restore::new();
        update(|s| s.verbose = 4);

        let _count = EnvGuard::set("RANKSCOPE_DART_COUNT", Some("9"));
        let _typo = EnvGuard::set("RANKSCOPE_DART_CUONT", Some("9"));
        let warnings = parse().unwrap();
        assert_eq!(current().dart_count, 9);
        assert_eq!(
            current().verbose,
            4,
            "absent variable: value set in code kept"
        );
        assert!(
            warnings.contains(&"unknown environment variable RANKSCOPE_DART_CUONT ignored; did you mean RANKSCOPE_DART_COUNT?".to_string()),
            "{warnings:?}"
        );

        // Two bad variables: both reported, nothing applied (not even the good one).
        let _count = EnvGuard::set("RANKSCOPE_DART_COUNT", Some("10"));
        let _bad_verbose = EnvGuard::set("RANKSCOPE_VERBOSE", Some("loud"));
        let _bad_dart = EnvGuard::set("RANKSCOPE_DART_OUTPUT", Some("maybe"));
        let generation0 = generation();
        let error = parse().unwrap_err();
        let messages = error.messages();
        assert!(messages.contains(
            &"RANKSCOPE_VERBOSE=loud: expected an integer from 0 to 4294967295".to_string()
        ));
        assert!(messages.contains(
            &"RANKSCOPE_DART_OUTPUT=maybe: expected a boolean (ON/OFF, true/false, 1/0, yes/no)"
                .to_string()
        ));
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(!error.warnings().is_empty());
        assert_eq!(generation(), generation0);
        assert_eq!((current().dart_count, current().verbose), (9, 4));
        assert!(reload().is_err());
        assert_eq!((current().dart_count, current().verbose), (9, 4));
    }

    #[test]
    fn reload_starts_from_defaults() {
        let _lock = test_lock();
        // reload() resets every setting: put the whole snapshot back afterwards.
        let saved = current();
        let _count = EnvGuard::set("RANKSCOPE_DART_COUNT", Some("5"));
        update(|s| s.verbose = 3);
        let outcome = reload();
        let (dart_count, verbose) = (current().dart_count, current().verbose);
        update(|s| *s = Settings::clone(&saved));
        outcome.unwrap();
        assert_eq!(dart_count, 5);
        assert_eq!(verbose, Settings::default().verbose);
        reset();
        assert_eq!(*current(), Settings::default());
        update(|s| *s = Settings::clone(&saved));
    }

    #[test]
    fn initial_state_keeps_defaults_for_bad_entries() {
        let vars = [
            ("RANKSCOPE_MAX_DEPTH", "lots"),
            ("RANKSCOPE_PRECISION", "6"),
            ("RANKSCOPE_JSON_OUTPUT", "maybe"),
            ("RANKSCOPE_TEXT_OUTPT", "off"),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        let (settings, report) = initial(vars);
        assert_eq!(settings.precision, 6);
        assert_eq!(settings.max_depth, Settings::default().max_depth);
        assert_eq!(settings.json_output, Settings::default().json_output);
        let errors: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            errors,
            [
                "RANKSCOPE_JSON_OUTPUT=maybe: expected a boolean (ON/OFF, true/false, 1/0, yes/no)",
                "RANKSCOPE_MAX_DEPTH=lots: expected an integer from 0 to 4294967295",
            ]
        );
        assert_eq!(report.warnings.len(), 1);
        assert!(report.warnings[0].contains("did you mean RANKSCOPE_TEXT_OUTPUT?"));
    }

    #[test]
    fn init_reports_are_available() {
        // Whatever the test environment holds, these must not panic and must be stable.
        assert_eq!(init_errors(), init_errors());
        assert_eq!(init_warnings(), init_warnings());
    }
}
