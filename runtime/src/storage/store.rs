//! Per-thread stores and the process-wide list of them.

use super::names::NameId;
use super::tree::Tree;
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

/// Most diagnostics kept per thread; later ones are only counted.
const MAX_DIAGNOSTICS: usize = 64;

/// One thread's tree plus what is needed to read it from elsewhere.
///
/// Invariant: only the owning thread mutates `tree`, and only while holding `lock`; other
/// threads read it only while holding `lock`. The owner may read it without the lock (reads
/// never race with its own writes) and records laps through atomic cells (see `cell.rs`).
pub struct ThreadStore {
    /// Order in which threads first used rankscope (0 is the first).
    pub index: u32,
    lock: Mutex<()>,
    tree: UnsafeCell<Tree>,
    diagnostics: Mutex<Diagnostics>,
    /// The regions running on the thread now, for snapshots taken from another thread.
    pub open: OpenStack,
}

/// Outermost open regions a snapshot can name per thread; deeper ones are counted.
pub const OPEN_SHOWN: usize = 32;

/// The names of the regions running on a thread, outermost first, readable from any thread
/// (a snapshot asked by a signal, while the thread is stuck in a collective). The owner
/// publishes each start and stop with relaxed stores, two per region; a reader may see the
/// stack one start or stop behind, never a torn name.
#[derive(Default)]
pub struct OpenStack {
    depth: AtomicU32,
    names: [AtomicU32; OPEN_SHOWN],
}

impl OpenStack {
    /// A region named `name` started at `depth` (0 outermost).
    #[inline]
    pub fn push(&self, depth: usize, name: NameId) {
        if let Some(slot) = self.names.get(depth) {
            slot.store(name.0, Relaxed);
        }
        self.depth.store(depth as u32 + 1, Relaxed);
    }

    /// The regions above `depth` stopped.
    #[inline]
    pub fn truncate(&self, depth: usize) {
        self.depth.store(depth as u32, Relaxed);
    }

    /// The names of the open regions (at most [`OPEN_SHOWN`]) and how many are open in all.
    pub fn read(&self) -> (Vec<NameId>, usize) {
        let depth = self.depth.load(Relaxed) as usize;
        let shown = self.names[..depth.min(OPEN_SHOWN)]
            .iter()
            .map(|n| NameId(n.load(Relaxed)))
            .collect();
        (shown, depth)
    }
}

#[derive(Default)]
struct Diagnostics {
    kept: Vec<String>,
    dropped: usize,
}

// SAFETY: access to `tree` follows the invariant documented on the type.
unsafe impl Sync for ThreadStore {}

fn registry() -> &'static Mutex<Vec<Arc<ThreadStore>>> {
    static R: OnceLock<Mutex<Vec<Arc<ThreadStore>>>> = OnceLock::new();
    R.get_or_init(Default::default)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ThreadStore {
    /// Creates and registers the store of a new thread.
    pub fn register() -> Arc<ThreadStore> {
        let mut all = lock(registry());
        let store = Arc::new(ThreadStore {
            index: all.len() as u32,
            lock: Mutex::new(()),
            tree: UnsafeCell::new(Tree::new()),
            diagnostics: Mutex::default(),
            open: OpenStack::default(),
        });
        all.push(store.clone());
        store
    }

    /// The regions open on every thread now, from any thread: per thread with open regions,
    /// its index, their names outermost first (at most [`OPEN_SHOWN`]) and how many are open.
    pub fn open_everywhere() -> Vec<(u32, Vec<String>, usize)> {
        Self::all()
            .iter()
            .filter_map(|t| {
                let (names, depth) = t.open.read();
                (depth > 0).then(|| {
                    let names = names
                        .into_iter()
                        .map(|n| super::names::resolve(n).to_string())
                        .collect();
                    (t.index, names, depth)
                })
            })
            .collect()
    }

    /// Every store registered so far, ended threads included.
    pub fn all() -> Vec<Arc<ThreadStore>> {
        lock(registry()).clone()
    }

    /// The tree, for its owner.
    ///
    /// # Safety
    /// Only the owning thread may call this, and it must not hold the result across a call
    /// to [`ThreadStore::modify`].
    #[inline]
    pub unsafe fn owner_tree(&self) -> &Tree {
        &*self.tree.get()
    }

    /// Changes the tree's structure under the lock.
    ///
    /// # Safety
    /// Only the owning thread may call this, holding no reference from `owner_tree`.
    pub unsafe fn modify<R>(&self, f: impl FnOnce(&mut Tree) -> R) -> R {
        let _g = lock(&self.lock);
        f(&mut *self.tree.get())
    }

    /// Reads the tree from any thread.
    pub fn read<R>(&self, f: impl FnOnce(&Tree) -> R) -> R {
        let _g = lock(&self.lock);
        // SAFETY: the owner mutates only under this lock, which we hold.
        f(unsafe { &*self.tree.get() })
    }

    /// Records a problem met on this thread (kept up to a bound, then counted).
    pub fn diagnose(&self, text: String) {
        let mut d = lock(&self.diagnostics);
        if d.kept.len() < MAX_DIAGNOSTICS {
            d.kept.push(text);
        } else {
            d.dropped += 1;
        }
    }

    /// Problems recorded so far, with a last line counting those not kept.
    pub fn diagnostics(&self) -> Vec<String> {
        let d = lock(&self.diagnostics);
        let mut out = d.kept.clone();
        if d.dropped > 0 {
            out.push(format!(
                "thread {}: {} more problems not shown",
                self.index, d.dropped
            ));
        }
        out
    }
}
