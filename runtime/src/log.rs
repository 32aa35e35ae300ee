//! rankscope's own messages, always on stderr (never on the program's stdout), filtered by the
//! `verbose` and `debug` settings:
//!
//! | macro | shown when | for |
//! |---|---|---|
//! | [`error!`](crate::log::error) | always | data could not be written, a setting was rejected |
//! | [`warning!`](crate::log::warning) | always | something the user asked for will not happen as asked |
//! | [`info!`](crate::log::info)`(n, ...)` | `verbose >= n` | 1: files written, reduction time and sizes; 2: per-writer times |
//! | [`debug!`](crate::log::debug) | `debug` on | the runtime's decisions: MPI join, finalize order, writers |
//!
//! Lines start with `rankscope:`; under a launcher they name the rank (`rankscope[3]:`), since
//! every rank's stderr ends up interleaved in one terminal or log.

use std::fmt::Arguments;
use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};

/// The rank shown in messages, `u32::MAX` while it is unknown.
static RANK: AtomicU32 = AtomicU32::new(u32::MAX);

/// Sets the rank that messages name (after joining MPI, or from the launcher before).
pub fn set_rank(rank: u32) {
    RANK.store(rank, Ordering::Relaxed);
}

/// Whether messages of verbosity `level` are shown.
pub fn verbose(level: u32) -> bool {
    crate::settings::current().verbose >= level
}

/// Whether debug messages are shown.
pub fn debugging() -> bool {
    crate::settings::current().debug
}

/// Writes one line on stderr: the prefix, then `kind` (if any), then the message. One
/// `write_all` per line, so lines of concurrent threads do not mix.
pub fn emit(kind: &str, message: Arguments<'_>) {
    let rank = RANK.load(Ordering::Relaxed);
    let mut line = if rank == u32::MAX || crate::mpi::launcher().is_none() {
        String::from("rankscope: ")
    } else {
        format!("rankscope[{rank}]: ")
    };
    line.push_str(kind);
    line.push_str(&message.to_string());
    line.push('\n');
    // Nothing sensible is left to do when stderr itself fails.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// An error: always shown.
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::emit("error: ", format_args!($($arg)*)) };
}

/// A warning: always shown.
macro_rules! warning {
    ($($arg:tt)*) => { $crate::log::emit("warning: ", format_args!($($arg)*)) };
}

/// A report shown at `verbose >= level`; the arguments are only formatted then.
macro_rules! info {
    ($level:expr, $($arg:tt)*) => {
        if $crate::log::verbose($level) {
            $crate::log::emit("", format_args!($($arg)*))
        }
    };
}

/// A trace of the runtime's decisions, shown when `debug` is on.
macro_rules! debug {
    ($($arg:tt)*) => {
        if $crate::log::debugging() {
            $crate::log::emit("debug: ", format_args!($($arg)*))
        }
    };
}

pub(crate) use {debug, error, info, warning};
