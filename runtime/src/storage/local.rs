//! The hot path: each thread's stack of open regions, and starting and stopping them.

use super::config::{self, Config};
use super::names::{self, NameId};
use super::store::ThreadStore;
use super::timeline;
use super::tree::{NodeId, Slots, ROOT};
use crate::bundle::Bundle;
use crate::collectors::{self, now_ns};
use crate::registry::MetricId;
use std::cell::Cell;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

/// Marks a frame that records nothing (disabled, or deeper than max_depth).
const NO_NODE: NodeId = NodeId::MAX;

/// Names a started region so that its stop can be checked against the stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    depth: u32,
    name: NameId,
}

#[derive(Clone, Copy)]
struct Frame {
    node: NodeId,
    slots: Slots,
    bundle: &'static Bundle,
    raw_at: u32,
    name: NameId,
    /// Values come from the caller at stop (a component's push/pop), not from sampling.
    external: bool,
}

/// The node a region was last placed at, per depth: loops re-enter the same node, and this
/// skips the child and slot lookups for them.
#[derive(Clone, Copy)]
struct Placement {
    parent: NodeId,
    name: NameId,
    bundle: *const Bundle,
    node: NodeId,
    slots: Slots,
}

struct Local {
    store: Arc<ThreadStore>,
    frames: Vec<Frame>,
    placed: Vec<Option<Placement>>,
    /// A stack of the open frames' start samples, innermost last, used up to `raw_top`; while a
    /// frame finishes, its stop sample and its values go right after its start sample (sizes
    /// are the bundle's own). Its length only grows (zero-filled once), so a lap costs no
    /// fill and no length update.
    raw: Vec<i64>,
    raw_top: usize,
    config: Config,
    generation: u64,
    /// How many collectors of the catalog (a prefix) had their `thread_start` on this thread.
    started: usize,
}

thread_local! {
    /// This thread's state: null before its first region, [`GONE`] once torn down. A plain
    /// pointer (no destructor, constant initialiser) so that each access is one load from the
    /// thread's block, with no lazy-initialisation or destructor-state check.
    static LOCAL: Cell<*mut Local> = const { Cell::new(ptr::null_mut()) };
    /// Owns the state and drops it when the thread ends. Touched only when the state is made.
    static OWNER: Owner = const { Owner(Cell::new(ptr::null_mut())) };
}

/// [`LOCAL`] after the thread's state was dropped: regions are no longer recorded.
const GONE: *mut Local = ptr::dangling_mut();

/// Drops the thread's state at thread exit, after pointing [`LOCAL`] at [`GONE`] so that
/// code run later by other thread-local destructors records nothing instead of using it.
struct Owner(Cell<*mut Local>);

impl Drop for Owner {
    fn drop(&mut self) {
        let local = self.0.replace(ptr::null_mut());
        let _ = LOCAL.try_with(|l| l.set(GONE));
        if !local.is_null() {
            // SAFETY: made by `Box::into_raw` in `make_local`, dropped only here; LOCAL no
            // longer hands it out.
            drop(unsafe { Box::from_raw(local) });
        }
    }
}

/// Runs `f` on this thread's state; `None` while the thread is being torn down.
#[inline]
fn with_local<R>(f: impl FnOnce(&mut Local) -> R) -> Option<R> {
    let mut local = LOCAL.with(Cell::get);
    if local.is_null() || local == GONE {
        local = make_local()?;
    }
    // SAFETY: the state lives until the thread's `Owner` drops it (after which LOCAL is GONE),
    // only this thread uses it, and `f` never re-enters this function.
    Some(f(unsafe { &mut *local }))
}

/// Makes this thread's state on its first region; `None` once it has been torn down.
#[cold]
#[inline(never)]
fn make_local() -> Option<*mut Local> {
    if LOCAL.with(Cell::get) == GONE {
        return None;
    }
    let local = Box::into_raw(Box::new(Local::new()));
    match OWNER.try_with(|o| o.0.set(local)) {
        Ok(()) => {
            LOCAL.with(|l| l.set(local));
            Some(local)
        }
        // The thread is already past its thread-local destructors.
        Err(_) => {
            LOCAL.with(|l| l.set(GONE));
            // SAFETY: just made above and never handed out.
            drop(unsafe { Box::from_raw(local) });
            None
        }
    }
}

/// Starts a region on this thread. Never fails: a region that cannot be recorded (rankscope
/// disabled, deeper than max_depth) is still tracked so that its stop matches.
#[inline]
pub fn start(name: NameId, bundle: &'static Bundle) -> Token {
    with_local(|l| l.start(name, bundle, false)).unwrap_or(Token {
        depth: u32::MAX,
        name,
    })
}

/// Enters a node without sampling: the caller supplies the values at [`leave`]. This is how a
/// component measured on its own (start/stop) stores its laps (push/pop).
pub fn enter(name: NameId, bundle: &'static Bundle) -> Token {
    with_local(|l| l.start(name, bundle, true)).unwrap_or(Token {
        depth: u32::MAX,
        name,
    })
}

/// Leaves a node entered with [`enter`], recording `values` (in the bundle's metric order)
/// as one lap.
pub fn leave(token: Token, values: &[i64]) {
    with_local(|l| {
        let depth = token.depth as usize;
        if l.frames
            .get(depth)
            .is_some_and(|f| f.external && f.name == token.name)
        {
            l.close_above(token);
            let f = l.frames.pop().expect("checked above");
            l.store.open.truncate(l.frames.len());
            if f.node != NO_NODE {
                // SAFETY: owning thread; recording goes through atomic cells only.
                unsafe { l.store.owner_tree() }.record(f.node, f.slots, f.bundle.metrics(), values);
            }
        } else {
            l.stop(token);
        }
    });
}

/// Records one lap of `values` (in `metrics` order) at the node `path`, names from the root of
/// this thread's tree (missing nodes are created), whatever regions are running: a value taken
/// at a moment rather than around a region (a memory point). Nothing is recorded while
/// rankscope is disabled.
pub fn record_at(path: &[NameId], metrics: &[MetricId], values: &[i64]) {
    with_local(|l| l.record_at(path, metrics, values));
}

/// Stops the region `token` started. Stopping out of order stops the inner regions first;
/// stopping a region that is not running records nothing. Both are reported as diagnostics.
#[inline]
pub fn stop(token: Token) {
    with_local(|l| l.stop(token));
}

/// Stops the innermost running region called `name` (see [`stop`]).
pub fn stop_named(name: NameId) {
    with_local(|l| match l.frames.iter().rposition(|f| f.name == name) {
        Some(depth) => l.stop(Token {
            depth: depth as u32,
            name,
        }),
        None => l.diagnose(format!(
            "stop('{}') without a matching start: ignored",
            names::resolve(name)
        )),
    });
}

/// Names of the regions open on this thread, outermost first.
pub fn open_regions() -> Vec<String> {
    with_local(|l| {
        l.frames
            .iter()
            .map(|f| names::resolve(f.name).to_string())
            .collect()
    })
    .unwrap_or_default()
}

impl Local {
    fn new() -> Local {
        let (generation, config) = config::current();
        let mut local = Local {
            store: ThreadStore::register(),
            frames: Vec::with_capacity(64),
            placed: Vec::with_capacity(64),
            raw: vec![0; 256],
            raw_top: 0,
            config,
            generation,
            started: 0,
        };
        local.start_collectors();
        local
    }

    /// Runs `thread_start` of the collectors registered since this thread last looked.
    #[cold]
    fn start_collectors(&mut self) {
        let all = collectors::all();
        for c in &all[self.started..] {
            c.thread_start();
        }
        self.started = all.len();
    }

    /// Settings changed or a collector was registered: refresh what the hot path caches.
    #[cold]
    fn refresh(&mut self) {
        (self.generation, self.config) = config::current();
        self.placed.clear();
        self.start_collectors();
    }

    #[inline]
    fn start(&mut self, name: NameId, bundle: &'static Bundle, external: bool) -> Token {
        if config::generation() != self.generation {
            self.refresh();
        }
        let depth = self.frames.len() as u32;
        let parent = match (self.config.flat, self.frames.last()) {
            (false, Some(f)) => f.node,
            _ => ROOT,
        };
        let recorded = self.config.enabled && parent != NO_NODE && depth < self.config.max_depth;
        let (node, slots) = if recorded {
            self.place_cached(depth as usize, parent, name, bundle)
        } else {
            (NO_NODE, Slots::Scattered)
        };
        let raw_at = self.raw_top;
        if node != NO_NODE && !external {
            let end = raw_at + bundle.raw_len();
            self.room(end);
            bundle.sample_start(&mut self.raw[raw_at..end]);
            self.raw_top = end;
        }
        self.frames.push(Frame {
            node,
            slots,
            bundle,
            raw_at: raw_at as u32,
            name,
            external,
        });
        self.store.open.push(depth as usize, name);
        Token { depth, name }
    }

    /// [`Local::place`] through the per-depth cache (timeline entries are always new).
    #[inline]
    fn place_cached(
        &mut self,
        depth: usize,
        parent: NodeId,
        name: NameId,
        bundle: &'static Bundle,
    ) -> (NodeId, Slots) {
        if let Some(Some(p)) = self.placed.get(depth) {
            if p.parent == parent && p.name == name && std::ptr::eq(p.bundle, bundle) {
                return (p.node, p.slots);
            }
        }
        let (node, slots) = self.place(parent, name, bundle);
        if !self.config.timeline {
            if self.placed.len() <= depth {
                self.placed.resize(depth + 1, None);
            }
            self.placed[depth] = Some(Placement {
                parent,
                name,
                bundle,
                node,
                slots,
            });
        }
        (node, slots)
    }

    /// Finds or creates the node and its metric cells.
    #[inline]
    fn place(&mut self, parent: NodeId, name: NameId, bundle: &Bundle) -> (NodeId, Slots) {
        let metrics = bundle.metrics();
        let timeline = self.config.timeline && self.admit_timeline_entry();
        let store = &*self.store;
        // SAFETY: this is the owning thread; the reference ends before any `modify`.
        let found = (!timeline)
            .then(|| unsafe { store.owner_tree() }.child(parent, name))
            .flatten();
        let node = match found {
            Some(n) => n,
            None => {
                let start = timeline.then(now_ns);
                // SAFETY: owning thread, no tree reference held.
                unsafe { store.modify(|t| t.add_child(parent, name, start)) }
            }
        };
        // SAFETY: as above.
        let slots = match unsafe { store.owner_tree() }.slots(node, metrics) {
            Some(s) => s,
            // SAFETY: owning thread, the reference above has ended.
            None => unsafe { store.modify(|t| t.add_slots(node, metrics)) },
        };
        (node, slots)
    }

    #[inline]
    fn stop(&mut self, token: Token) {
        let depth = token.depth as usize;
        if depth >= self.frames.len() || self.frames[depth].name != token.name {
            self.diagnose(format!(
                "stop of '{}' which is not running: ignored",
                names::resolve(token.name)
            ));
            return;
        }
        if self.frames.len() > depth + 1 {
            self.close_above(token);
        }
        let frame = self.frames.pop().expect("depth < len");
        self.finish(frame);
    }

    /// Stops the regions still running inside `token`'s, reporting each.
    #[cold]
    #[inline(never)]
    fn close_above(&mut self, token: Token) {
        while self.frames.len() > token.depth as usize + 1 {
            let inner = self.frames.pop().expect("len > depth + 1");
            self.finish(inner);
            self.diagnose(format!(
                "'{}' stopped while '{}' inside it was still running: stopped '{}' too",
                names::resolve(token.name),
                names::resolve(inner.name),
                names::resolve(inner.name)
            ));
        }
    }

    /// Records a frame just popped from `frames`.
    #[inline]
    fn finish(&mut self, f: Frame) {
        self.store.open.truncate(self.frames.len());
        if f.node == NO_NODE || f.external {
            return;
        }
        let metrics = f.bundle.metrics();
        let (at, n) = (f.raw_at as usize, f.bundle.raw_len());
        // Inner frames have finished and given their room back: this frame's start sample is
        // the last one, and the stop sample and the values go after it.
        let end = at + 2 * n + metrics.len();
        self.room(end);
        let (start, rest) = self.raw[at..end].split_at_mut(n);
        let (stop, values) = rest.split_at_mut(n);
        f.bundle.measure(start, stop, values);
        // SAFETY: owning thread; recording goes through atomic cells only.
        unsafe { self.store.owner_tree() }.record(f.node, f.slots, metrics, values);
        self.raw_top = at;
    }

    /// See [`record_at`]. Not on the hot path: looks up each name of `path` every time.
    fn record_at(&mut self, path: &[NameId], metrics: &[MetricId], values: &[i64]) {
        if config::generation() != self.generation {
            self.refresh();
        }
        if !self.config.enabled || path.is_empty() {
            return;
        }
        let store = &*self.store;
        let mut node = ROOT;
        for &name in path {
            // SAFETY: owning thread; each tree reference ends before the `modify` after it.
            node = match unsafe { store.owner_tree() }.child(node, name) {
                Some(child) => child,
                None => unsafe { store.modify(|t| t.add_child(node, name, None)) },
            };
        }
        // SAFETY: as above.
        let slots = match unsafe { store.owner_tree() }.slots(node, metrics) {
            Some(s) => s,
            None => unsafe { store.modify(|t| t.add_slots(node, metrics)) },
        };
        // SAFETY: owning thread; recording goes through atomic cells only.
        unsafe { store.owner_tree() }.record(node, slots, metrics, values);
    }

    /// Makes `raw` at least `len` long.
    #[inline]
    fn room(&mut self, len: usize) {
        if len > self.raw.len() {
            self.grow(len);
        }
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self, len: usize) {
        self.raw.resize(len.next_power_of_two(), 0);
    }

    #[cold]
    /// Whether this region instance may be a timeline entry of its own (see `timeline`).
    fn admit_timeline_entry(&self) -> bool {
        let max = self.config.timeline_max_events;
        match timeline::admit(max) {
            timeline::Admission::Entry => true,
            timeline::Admission::Refused { first } => {
                if first {
                    self.diagnose(timeline::note(max));
                }
                false
            }
        }
    }

    fn diagnose(&self, text: String) {
        report(&text);
        self.store
            .diagnose(format!("thread {}: {text}", self.store.index));
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        for c in &collectors::all()[..self.started] {
            c.thread_stop();
        }
        if !self.frames.is_empty() {
            let open: Vec<_> = self
                .frames
                .iter()
                .map(|f| names::resolve(f.name).to_string())
                .collect();
            self.diagnose(format!(
                "thread ended with regions still running (not recorded): {}",
                open.join(" > ")
            ));
        }
    }
}

/// Prints the first few problems to stderr (never stdout, which belongs to the application).
fn report(text: &str) {
    static PRINTED: AtomicUsize = AtomicUsize::new(0);
    match PRINTED.fetch_add(1, Relaxed) {
        n if n < 5 => crate::log::warning!("{text}"),
        5 => crate::log::warning!("further region problems are only kept in the outputs"),
        _ => {}
    }
}
