//! Joining MPI: initialise it when a launcher started us, adopt it when someone else did.

use super::launcher::launcher;
use std::sync::{Mutex, MutexGuard};

/// Thread support asked of `MPI_Init_thread`.
///
/// `Multiple` is the default because it is what mpi4py asks for: asking for less would change
/// what the application later sees when it imports mpi4py after us.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum ThreadLevel {
    /// `MPI_THREAD_SINGLE`
    Single,
    /// `MPI_THREAD_FUNNELED`
    Funneled,
    /// `MPI_THREAD_SERIALIZED`
    Serialized,
    /// `MPI_THREAD_MULTIPLE`
    #[default]
    Multiple,
}

impl ThreadLevel {
    /// The MPI constant's name, e.g. `MPI_THREAD_MULTIPLE`.
    pub fn mpi_name(self) -> &'static str {
        match self {
            ThreadLevel::Single => "MPI_THREAD_SINGLE",
            ThreadLevel::Funneled => "MPI_THREAD_FUNNELED",
            ThreadLevel::Serialized => "MPI_THREAD_SERIALIZED",
            ThreadLevel::Multiple => "MPI_THREAD_MULTIPLE",
        }
    }
}

/// How this process takes part in MPI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorldInfo {
    /// Rank in `MPI_COMM_WORLD` (0 without MPI).
    pub rank: u32,
    /// Size of `MPI_COMM_WORLD` (1 without MPI).
    pub size: u32,
    /// `MPI_Get_library_version` (first line), empty without MPI.
    pub library_version: String,
    /// MPI standard version as `major.minor`, empty without MPI.
    pub mpi_version: String,
    /// Whether MPI is in use: initialised by us or by someone else. False for a process that
    /// runs alone (no launcher, or built without the `mpi` feature).
    pub mpi: bool,
    /// Whether this runtime called `MPI_Init_thread`, and so must call `MPI_Finalize` at exit.
    pub initialised_by_us: bool,
    /// Thread support MPI provides, when MPI is in use.
    pub thread_level: Option<ThreadLevel>,
    /// The launcher variable seen at start-up (see [`launcher`](super::launcher)).
    pub launcher: Option<&'static str>,
}

impl WorldInfo {
    /// A process not in MPI (yet): rank and size as its launcher announced them, or rank 0 of
    /// 1 without a launcher.
    pub(super) fn alone() -> WorldInfo {
        let (rank, size) = super::launcher::launched_rank().unwrap_or((0, 1));
        WorldInfo {
            rank,
            size,
            library_version: String::new(),
            mpi_version: String::new(),
            mpi: false,
            initialised_by_us: false,
            thread_level: None,
            launcher: launcher(),
        }
    }
}

/// What we learnt at the first `init`/`world` call; `None` before.
static STATE: Mutex<Option<WorldInfo>> = Mutex::new(None);

fn state() -> MutexGuard<'static, Option<WorldInfo>> {
    // A panic while holding the lock leaves a consistent Option: keep using it.
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

/// What `MPI_Init` call to make when this runtime initialises MPI itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitCall {
    /// `MPI_Init`: the implementation's default thread support (setting `mpi_thread` off).
    Plain,
    /// `MPI_Init_thread` asking for this level (setting `mpi_thread` on, the default).
    Thread(ThreadLevel),
}

impl From<ThreadLevel> for InitCall {
    fn from(level: ThreadLevel) -> Self {
        InitCall::Thread(level)
    }
}

/// Joins MPI; collective when a launcher started the job, so every rank must call it at the
/// same point of the program (at start-up, or at the end before the final reduction).
///
/// - MPI already initialised by someone else (mpi4py, the application): adopt
///   `MPI_COMM_WORLD`; never finalise it.
/// - A launcher detected ([`launcher`](super::launcher)): `MPI_Init_thread(level)` (or plain
///   `MPI_Init` with [`InitCall::Plain`]); the runtime finalises at normal exit
///   ([`finalize`](super::finalize)).
/// - Neither: run alone without touching MPI. A program started without a launcher cannot have
///   peers, and initialising Open MPI as a singleton forks a helper daemon and slows start-up;
///   use [`init_singleton`] to get an MPI singleton anyway.
///
/// In every case where MPI ends up in use, the finalize hook is installed (an attribute on
/// `MPI_COMM_SELF`), so callbacks given to [`on_finalize`](super::on_finalize) run at the start
/// of `MPI_Finalize` whoever calls it. Later calls return the first answer.
pub fn init(call: impl Into<InitCall>) -> WorldInfo {
    start(call.into(), launcher().is_some())
}

/// Like [`init`], but initialises MPI even without a launcher (an MPI singleton, rank 0 of 1).
pub fn init_singleton(call: impl Into<InitCall>) -> WorldInfo {
    start(call.into(), true)
}

/// This process's place in the world. When MPI is not in use yet, this adopts an MPI someone
/// else has initialised since; otherwise it answers without initialising anything: rank and
/// size from the launcher's variables ([`launched_rank`](super::launcher::launched_rank)) with
/// `mpi` false, or rank 0 of 1 without a launcher.
pub fn world() -> WorldInfo {
    if let Some(w) = state().as_ref() {
        if w.mpi || !raw::initialised() {
            return w.clone();
        }
    }
    start(InitCall::Thread(ThreadLevel::default()), false)
}

/// Whether this process has joined MPI (initialised or adopted it), without joining.
pub fn joined() -> bool {
    state().as_ref().is_some_and(|w| w.mpi)
}

fn start(call: InitCall, want_mpi: bool) -> WorldInfo {
    let mut guard = state();
    if let Some(w) = guard.as_ref() {
        // Settled unless we ran alone and MPI appeared (or is now wanted) since.
        if w.mpi || !(want_mpi || raw::initialised()) {
            return w.clone();
        }
    }
    let w = raw::establish(call, want_mpi).unwrap_or_else(WorldInfo::alone);
    *guard = Some(w.clone());
    drop(guard);
    if w.mpi {
        super::finalize::install_hook();
    }
    w
}

/// Whether collective calls can be made now: MPI in use and not finalised yet.
pub(super) fn usable(w: &WorldInfo) -> bool {
    w.mpi && raw::initialised() && !raw::finalised()
}

/// Whether collective calls can be made now, for this process's world.
#[cfg(feature = "mpi")]
pub(crate) fn usable_now() -> bool {
    usable(&world())
}

#[cfg(feature = "mpi")]
mod raw {
    use super::{launcher, InitCall, ThreadLevel, WorldInfo};
    use mpi::topology::{Communicator, SimpleCommunicator};
    use mpi::Threading;

    pub(super) fn initialised() -> bool {
        mpi::environment::is_initialized()
    }

    pub(super) fn finalised() -> bool {
        mpi::environment::is_finalized()
    }

    /// Adopts or initialises MPI; `None` when the process should run alone.
    pub(super) fn establish(call: InitCall, want_mpi: bool) -> Option<WorldInfo> {
        // Read before MPI_Init: an Open MPI singleton sets PMIX_RANK in our own environment.
        let launcher = launcher();
        if finalised() {
            // MPI cannot be initialised twice: what is left is running alone.
            return None;
        }
        if initialised() {
            return Some(describe(false, launcher));
        }
        if !want_mpi {
            return None;
        }
        let universe = match call {
            InitCall::Plain => mpi::initialize(),
            InitCall::Thread(level) => {
                mpi::initialize_with_threading(to_threading(level)).map(|(universe, _)| universe)
            }
        };
        match universe {
            Some(universe) => {
                // Dropping the Universe calls MPI_Finalize and later MPI functions; we finalise
                // ourselves in `finalize()` (or someone else does), so it must never drop.
                std::mem::forget(universe);
                Some(describe(true, launcher))
            }
            // Another thread initialised it between our check and the call.
            None => Some(describe(false, launcher)),
        }
    }

    fn describe(by_us: bool, launcher: Option<&'static str>) -> WorldInfo {
        let world = SimpleCommunicator::world();
        let (major, minor) = mpi::environment::version();
        let library = mpi::environment::library_version().unwrap_or_default();
        WorldInfo {
            rank: world.rank() as u32,
            size: world.size() as u32,
            // Open MPI's string runs over several lines of build details: the first says it all.
            library_version: library
                .lines()
                .next()
                .unwrap_or("")
                .trim_matches(|c: char| c == '\0' || c.is_whitespace())
                .to_string(),
            mpi_version: format!("{major}.{minor}"),
            mpi: true,
            initialised_by_us: by_us,
            thread_level: Some(from_threading(mpi::environment::threading_support())),
            launcher,
        }
    }

    fn to_threading(l: ThreadLevel) -> Threading {
        match l {
            ThreadLevel::Single => Threading::Single,
            ThreadLevel::Funneled => Threading::Funneled,
            ThreadLevel::Serialized => Threading::Serialized,
            ThreadLevel::Multiple => Threading::Multiple,
        }
    }

    fn from_threading(t: Threading) -> ThreadLevel {
        match t {
            Threading::Single => ThreadLevel::Single,
            Threading::Funneled => ThreadLevel::Funneled,
            Threading::Serialized => ThreadLevel::Serialized,
            Threading::Multiple => ThreadLevel::Multiple,
        }
    }
}

#[cfg(not(feature = "mpi"))]
mod raw {
    use super::{InitCall, WorldInfo};

    pub(super) fn initialised() -> bool {
        false
    }

    pub(super) fn finalised() -> bool {
        false
    }

    pub(super) fn establish(_call: InitCall, _want_mpi: bool) -> Option<WorldInfo> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_levels_are_ordered_like_mpi() {
        assert!(ThreadLevel::Single < ThreadLevel::Multiple);
        assert_eq!(ThreadLevel::default().mpi_name(), "MPI_THREAD_MULTIPLE");
    }

    #[test]
    fn alone_is_rank_zero_of_one() {
        let w = WorldInfo::alone();
        assert_eq!(
            (w.rank, w.size, w.mpi, w.initialised_by_us),
            (0, 1, false, false)
        );
    }
}
