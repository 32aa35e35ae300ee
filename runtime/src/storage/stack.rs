//! One thread's stack of running regions: starting and stopping them (the hot path).

use super::config::{self, Config};
use super::names::{self, NameId};
use super::store::ThreadStore;
use super::timeline;
use super::tree::{NodeId, Slots, ROOT};
use crate::bundle::Bundle;
use crate::collectors::{
    self, now_ns, tsc_elapsed_ns, wall_elapsed_ns, wall_sample, wall_sample_if_tsc,
};
use crate::registry::MetricId;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

/// Marks a level that records nothing (disabled, or deeper than max_depth).
const NO_NODE: NodeId = NodeId::MAX;
/// The parent of a placement that may not be reused: never a node's id (like `NO_NODE`, it
/// would take four billion nodes), and never `NO_NODE`, which is the parent of a region
/// started inside one that records nothing.
const STALE: NodeId = NodeId::MAX - 1;

/// Names a started region so that its stop can be checked against the stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    pub(super) depth: u32,
    pub(super) name: NameId,
}

impl Token {
    /// The token of a region that could not be started (the thread is being torn down): its
    /// stop does nothing.
    pub(super) fn unstarted(name: NameId) -> Token {
        Token {
            depth: u32::MAX,
            name,
        }
    }
}

/// What a running level measures, and so what its stop does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Timing {
    /// Records nothing (disabled, deeper than max_depth).
    Nothing,
    /// The wall clock alone: `Level::start` is its start reading.
    Wall,
    /// Any other bundle: `Level::start` is where its start sample sits in the raw stack.
    Raw,
    /// Values come from the caller at stop (a component's push/pop), not from sampling.
    External,
}

/// One depth of the stack. Below the stack's depth, the region running there; at and above,
/// what last ran there, kept as a cache: a loop entering the same region under the same parent
/// reuses its node and slots, so such a start writes only `timing` and `start`.
#[derive(Clone, Copy)]
struct Level {
    name: NameId,
    node: NodeId,
    bundle: &'static Bundle,
    slots: Slots,
    /// The node `node` was placed under, or `STALE` when the placement may not be reused
    /// (a timeline entry, a level that records nothing, settings changed since).
    parent: NodeId,
    timing: Timing,
    /// The start reading (`Timing::Wall`) or the start sample's place in `raw` (`Timing::Raw`).
    start: i64,
}

/// A thread's running regions and what the hot path caches about settings.
pub(super) struct Stack {
    pub(super) store: Arc<ThreadStore>,
    /// Running regions are `levels[..depth]`; the rest are placement caches.
    levels: Vec<Level>,
    depth: usize,
    /// A stack of the start samples of running `Timing::Raw` levels, innermost last, used up to
    /// `raw_top`; while a level finishes, its stop sample and its values go right after its
    /// start sample (sizes are the bundle's own). Its length only grows (zero-filled once), so
    /// a lap costs no fill and no length update.
    raw: Vec<i64>,
    raw_top: usize,
    config: Config,
    generation: u64,
    /// How many collectors of the catalog (a prefix) had their `thread_start` on this thread.
    started: usize,
}

impl Stack {
    pub(super) fn new() -> Stack {
        let (generation, config) = config::current();
        let mut stack = Stack {
            store: ThreadStore::register(),
            levels: Vec::with_capacity(64),
            depth: 0,
            raw: vec![0; 256],
            raw_top: 0,
            config,
            generation,
            started: 0,
        };
        stack.start_collectors();
        stack
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
    #[inline(never)]
    fn refresh(&mut self) {
        (self.generation, self.config) = config::current();
        for level in &mut self.levels {
            level.parent = STALE;
        }
        self.start_collectors();
    }

    /// Starts a region; `external` ones take their values from the caller at [`Stack::leave`].
    /// Never fails: a region that cannot be recorded (disabled, deeper than max_depth) is still
    /// stacked so that its stop matches.
    ///
    /// The common case (settings unchanged, the same region as last time at this depth and
    /// under this parent, the wall clock alone) calls nothing, so that it needs no saved
    /// registers; everything else goes to [`Stack::start_any`].
    #[inline]
    pub(super) fn start(&mut self, name: NameId, bundle: &'static Bundle, external: bool) -> Token {
        let depth = self.depth;
        let parent = match depth.checked_sub(1) {
            Some(up) if !self.config.flat => self.levels[up].node,
            _ => ROOT,
        };
        let fast = !external
            && bundle.wall_clock_only()
            && config::generation() == self.generation
            && self.levels.get(depth).is_some_and(|l| {
                l.parent == parent && l.name == name && std::ptr::eq(l.bundle, bundle)
            });
        if !fast {
            return self.start_any(name, bundle, external);
        }
        self.depth = depth + 1;
        self.store.open.push(depth, name);
        let level = &mut self.levels[depth];
        level.timing = Timing::Wall;
        // Read last, so that the bookkeeping above is not inside the region.
        match wall_sample_if_tsc() {
            Some(now) => level.start = now,
            None => return self.start_by_call(depth),
        }
        Token {
            depth: depth as u32,
            name,
        }
    }

    /// The end of [`Stack::start`]'s common case where the wall clock is not the TSC: its
    /// reading is a call (a system call's worth of time anyway), kept out of the common case
    /// so that the TSC machines' path makes no call and saves no registers.
    #[inline(never)]
    fn start_by_call(&mut self, depth: usize) -> Token {
        let level = &mut self.levels[depth];
        level.start = wall_sample();
        Token {
            depth: depth as u32,
            name: level.name,
        }
    }

    /// [`Stack::start`] in every case.
    #[inline(never)]
    fn start_any(&mut self, name: NameId, bundle: &'static Bundle, external: bool) -> Token {
        if config::generation() != self.generation {
            self.refresh();
        }
        let depth = self.depth;
        let parent = match depth.checked_sub(1) {
            Some(up) if !self.config.flat => self.levels[up].node,
            _ => ROOT,
        };
        let reuse = self.levels.get(depth).is_some_and(|l| {
            l.parent == parent && l.name == name && std::ptr::eq(l.bundle, bundle)
        });
        if !reuse {
            self.place(depth, parent, name, bundle);
        }
        let level = &mut self.levels[depth];
        level.timing = if level.node == NO_NODE {
            Timing::Nothing
        } else if external {
            Timing::External
        } else if bundle.wall_clock_only() {
            Timing::Wall
        } else {
            Timing::Raw
        };
        self.depth = depth + 1;
        self.store.open.push(depth, name);
        // Sampled last, so that the bookkeeping above is not inside the region.
        match level.timing {
            Timing::Wall => level.start = wall_sample(),
            Timing::Raw => self.sample_raw(depth, bundle),
            Timing::Nothing | Timing::External => {}
        }
        Token {
            depth: depth as u32,
            name,
        }
    }

    /// Fills `levels[depth]` for a region not started there last time under the same parent:
    /// finds or creates its node and metric cells, unless it records nothing.
    #[cold]
    #[inline(never)]
    fn place(&mut self, depth: usize, parent: NodeId, name: NameId, bundle: &'static Bundle) {
        let recorded = self.config.enabled
            && parent != NO_NODE
            && (depth as u64) < self.config.max_depth as u64;
        let (node, slots, reusable) = if recorded {
            let timeline = self.config.timeline && self.admit_timeline_entry();
            let (node, slots) = self.node_for(parent, name, bundle.metrics(), timeline);
            // Timeline mode makes every instance a node of its own: nothing to reuse.
            (node, slots, !self.config.timeline)
        } else {
            (NO_NODE, Slots::Scattered, false)
        };
        let level = Level {
            name,
            node,
            bundle,
            slots,
            parent: if reusable { parent } else { STALE },
            timing: Timing::Nothing,
            start: 0,
        };
        match self.levels.get_mut(depth) {
            Some(l) => *l = level,
            None => self.levels.push(level),
        }
    }

    /// Finds or creates the child `name` of `parent` (always creates a `timeline` entry) and
    /// the cells of `metrics` there.
    fn node_for(
        &mut self,
        parent: NodeId,
        name: NameId,
        metrics: &[MetricId],
        timeline: bool,
    ) -> (NodeId, Slots) {
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

    /// Takes the start sample of `levels[depth]` onto the raw stack.
    fn sample_raw(&mut self, depth: usize, bundle: &Bundle) {
        let at = self.raw_top;
        let end = at + bundle.raw_len();
        self.room(end);
        self.levels[depth].start = at as i64;
        self.raw_top = end;
        bundle.sample_start(&mut self.raw[at..end]);
    }

    /// Stops the region `token` started. Stopping out of order stops the inner regions first;
    /// stopping a region that is not running records nothing. Both are reported.
    ///
    /// The common case (the innermost region, the wall clock alone) calls nothing; everything
    /// else goes to [`Stack::stop_any`].
    #[inline]
    pub(super) fn stop(&mut self, token: Token) {
        let depth = token.depth as usize;
        let level = self.levels.get(depth).filter(|l| {
            depth + 1 == self.depth && l.name == token.name && l.timing == Timing::Wall
        });
        let Some(&Level {
            node,
            slots: Slots::Run(at),
            start,
            ..
        }) = level
        else {
            return self.stop_any(token);
        };
        // Where the wall clock is not the TSC its reading is a call: the general path.
        let Some(stop) = wall_sample_if_tsc() else {
            return self.stop_any(token);
        };
        self.depth = depth;
        self.store.open.truncate(depth);
        // The stop is a TSC reading, and so is the start: the clock's source never changes.
        let elapsed = tsc_elapsed_ns(start, stop);
        // SAFETY: owning thread; recording goes through atomic cells only.
        unsafe { self.store.owner_tree() }.record_one(node, at, elapsed);
    }

    /// [`Stack::stop`] in every case.
    #[inline(never)]
    fn stop_any(&mut self, token: Token) {
        let depth = token.depth as usize;
        if depth >= self.depth || self.levels[depth].name != token.name {
            return self.not_running(token);
        }
        if self.depth > depth + 1 {
            self.close_above(token);
        }
        self.finish(depth);
    }

    #[cold]
    #[inline(never)]
    fn not_running(&self, token: Token) {
        self.diagnose(format!(
            "stop of '{}' which is not running: ignored",
            names::resolve(token.name)
        ));
    }

    /// Leaves a level entered with `external`, recording `values` as its lap; anything else is
    /// stopped as by [`Stack::stop`].
    pub(super) fn leave(&mut self, token: Token, values: &[i64]) {
        let depth = token.depth as usize;
        let external = depth < self.depth && {
            let l = &self.levels[depth];
            l.name == token.name && matches!(l.timing, Timing::External | Timing::Nothing)
        };
        if !external {
            return self.stop(token);
        }
        self.close_above(token);
        self.depth = depth;
        self.store.open.truncate(depth);
        let l = self.levels[depth];
        if l.timing == Timing::External {
            // SAFETY: owning thread; recording goes through atomic cells only.
            unsafe { self.store.owner_tree() }.record(l.node, l.slots, l.bundle.metrics(), values);
        }
    }

    /// Stops the regions still running inside `token`'s, reporting each.
    #[cold]
    #[inline(never)]
    fn close_above(&mut self, token: Token) {
        while self.depth > token.depth as usize + 1 {
            let inner = self.depth - 1;
            self.finish(inner);
            self.diagnose(format!(
                "'{}' stopped while '{}' inside it was still running: stopped '{}' too",
                names::resolve(token.name),
                names::resolve(self.levels[inner].name),
                names::resolve(self.levels[inner].name)
            ));
        }
    }

    /// Stops the innermost running level, `levels[depth]`, and records its lap.
    fn finish(&mut self, depth: usize) {
        let l = self.levels[depth];
        // Read first, so that the bookkeeping below is not inside the region.
        let stop = match l.timing {
            Timing::Wall => wall_sample(),
            _ => 0,
        };
        self.depth = depth;
        self.store.open.truncate(depth);
        match l.timing {
            Timing::Wall => {
                let elapsed = [wall_elapsed_ns(l.start, stop)];
                // SAFETY: owning thread; recording goes through atomic cells only.
                unsafe { self.store.owner_tree() }.record(
                    l.node,
                    l.slots,
                    l.bundle.metrics(),
                    &elapsed,
                );
            }
            Timing::Raw => self.finish_raw(l),
            Timing::Nothing | Timing::External => {}
        }
    }

    /// Samples and records a `Timing::Raw` level whose start sample is the last on the stack.
    fn finish_raw(&mut self, l: Level) {
        let metrics = l.bundle.metrics();
        let (at, n) = (l.start as usize, l.bundle.raw_len());
        // Inner levels have finished and given their room back: this level's start sample is
        // the last one, and the stop sample and the values go after it.
        let end = at + 2 * n + metrics.len();
        self.room(end);
        let (start, rest) = self.raw[at..end].split_at_mut(n);
        let (stop, values) = rest.split_at_mut(n);
        l.bundle.measure(start, stop, values);
        // SAFETY: owning thread; recording goes through atomic cells only.
        unsafe { self.store.owner_tree() }.record(l.node, l.slots, metrics, values);
        self.raw_top = at;
    }

    /// The depth of the innermost running region called `name`.
    pub(super) fn innermost(&self, name: NameId) -> Option<usize> {
        self.levels[..self.depth]
            .iter()
            .rposition(|l| l.name == name)
    }

    /// Names of the running regions, outermost first.
    pub(super) fn running(&self) -> impl Iterator<Item = NameId> + '_ {
        self.levels[..self.depth].iter().map(|l| l.name)
    }

    /// Records one lap of `values` at the node `path` from the root (see `local::record_at`).
    /// Not on the hot path: looks up each name of `path` every time.
    pub(super) fn record_at(&mut self, path: &[NameId], metrics: &[MetricId], values: &[i64]) {
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

    /// Reports a misuse on stderr (the first few) and in the thread's diagnostics.
    pub(super) fn diagnose(&self, text: String) {
        report(&text);
        self.store
            .diagnose(format!("thread {}: {text}", self.store.index));
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        for c in &collectors::all()[..self.started] {
            c.thread_stop();
        }
        if self.depth > 0 {
            let open: Vec<_> = self
                .running()
                .map(|n| names::resolve(n).to_string())
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
