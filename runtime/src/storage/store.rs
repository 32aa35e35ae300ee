//! Per-thread stores and the process-wide list of them.

use super::tree::Tree;
use std::cell::UnsafeCell;
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
        });
        all.push(store.clone());
        store
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
