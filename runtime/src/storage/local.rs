//! Each thread's region stack, reached with one thread-local load, and the functions that
//! start and stop regions on it.

use super::names::{self, NameId};
use super::stack::{Stack, Token};
use crate::bundle::Bundle;
use crate::registry::MetricId;
use std::cell::Cell;
use std::ptr;

thread_local! {
    /// This thread's stack: null before its first region, [`GONE`] once torn down. A plain
    /// pointer (no destructor, constant initialiser) so that each access is one load from the
    /// thread's block, with no lazy-initialisation or destructor-state check.
    static LOCAL: Cell<*mut Stack> = const { Cell::new(ptr::null_mut()) };
    /// Owns the stack and drops it when the thread ends. Touched only when the stack is made.
    static OWNER: Owner = const { Owner(Cell::new(ptr::null_mut())) };
}

/// [`LOCAL`] after the thread's stack was dropped: regions are no longer recorded.
const GONE: *mut Stack = ptr::dangling_mut();

/// Drops the thread's stack at thread exit, after pointing [`LOCAL`] at [`GONE`] so that
/// code run later by other thread-local destructors records nothing instead of using it.
struct Owner(Cell<*mut Stack>);

impl Drop for Owner {
    fn drop(&mut self) {
        let stack = self.0.replace(ptr::null_mut());
        let _ = LOCAL.try_with(|l| l.set(GONE));
        if !stack.is_null() {
            // SAFETY: made by `Box::into_raw` in `make_stack`, dropped only here; LOCAL no
            // longer hands it out.
            drop(unsafe { Box::from_raw(stack) });
        }
    }
}

/// Runs `f` on this thread's stack; `None` while the thread is being torn down.
#[inline]
fn with_local<R>(f: impl FnOnce(&mut Stack) -> R) -> Option<R> {
    let mut stack = LOCAL.with(Cell::get);
    if stack.is_null() || stack == GONE {
        stack = make_stack()?;
    }
    // SAFETY: the stack lives until the thread's `Owner` drops it (after which LOCAL is GONE),
    // only this thread uses it, and `f` never re-enters this function.
    Some(f(unsafe { &mut *stack }))
}

/// This thread's stack once made and until torn down; `None` otherwise (see [`with_local`]).
/// For `start` and `stop`, which then take a path that makes no call.
#[inline(always)]
fn made_local() -> Option<&'static mut Stack> {
    let stack = LOCAL.with(Cell::get);
    // SAFETY: as in `with_local`; the caller uses the reference for one call that never
    // re-enters this module.
    (!stack.is_null() && stack != GONE).then(|| unsafe { &mut *stack })
}

/// Makes this thread's stack on its first region; `None` once it has been torn down.
#[cold]
#[inline(never)]
fn make_stack() -> Option<*mut Stack> {
    if LOCAL.with(Cell::get) == GONE {
        return None;
    }
    let stack = Box::into_raw(Box::new(Stack::new()));
    match OWNER.try_with(|o| o.0.set(stack)) {
        Ok(()) => {
            LOCAL.with(|l| l.set(stack));
            Some(stack)
        }
        // The thread is already past its thread-local destructors.
        Err(_) => {
            LOCAL.with(|l| l.set(GONE));
            // SAFETY: just made above and never handed out.
            drop(unsafe { Box::from_raw(stack) });
            None
        }
    }
}

/// Starts a region on this thread. Never fails: a region that cannot be recorded (rankscope
/// disabled, deeper than max_depth) is still tracked so that its stop matches.
#[inline]
pub fn start(name: NameId, bundle: &'static Bundle) -> Token {
    match made_local() {
        Some(l) => l.start(name, bundle, false),
        None => start_first(name, bundle),
    }
}

/// [`start`] on a thread whose stack is not made yet (or is torn down).
#[cold]
#[inline(never)]
fn start_first(name: NameId, bundle: &'static Bundle) -> Token {
    with_local(|l| l.start(name, bundle, false)).unwrap_or(Token::unstarted(name))
}

/// Enters a node without sampling: the caller supplies the values at [`leave`]. This is how a
/// component measured on its own (start/stop) stores its laps (push/pop).
pub fn enter(name: NameId, bundle: &'static Bundle) -> Token {
    with_local(|l| l.start(name, bundle, true)).unwrap_or(Token::unstarted(name))
}

/// Leaves a node entered with [`enter`], recording `values` (in the bundle's metric order)
/// as one lap.
pub fn leave(token: Token, values: &[i64]) {
    with_local(|l| l.leave(token, values));
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
    match made_local() {
        Some(l) => l.stop(token),
        None => stop_first(token),
    }
}

/// [`stop`] on a thread whose stack is not made yet (the stop is reported) or is torn down.
#[cold]
#[inline(never)]
fn stop_first(token: Token) {
    with_local(|l| l.stop(token));
}

/// Stops the innermost running region called `name` (see [`stop`]).
pub fn stop_named(name: NameId) {
    with_local(|l| match l.innermost(name) {
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
    with_local(|l| l.running().map(|n| names::resolve(n).to_string()).collect()).unwrap_or_default()
}
