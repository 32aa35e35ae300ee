//! Statistics cells written by one thread while another may read them.
//!
//! Only the owning thread ever writes a cell, so updates are plain loads and stores (relaxed
//! atomics compile to ordinary moves on x86: no lock prefix). A reader on another thread copies
//! a node's cells under a per-node sequence counter and retries if a write overlapped.

use crate::profile::Stats;
use std::sync::atomic::{fence, AtomicI64, AtomicU32, AtomicU64, Ordering::*};

/// One metric's running statistics, in atomics so that concurrent reads are not data races.
#[derive(Default)]
pub struct StatsCell {
    laps: AtomicU64,
    sum: [AtomicU64; 2],
    sumsq: [AtomicU64; 2],
    min: AtomicI64,
    max: AtomicI64,
}

// Inline: called four times per lap, and across codegen units they were left as calls.
#[inline(always)]
fn load128(p: &[AtomicU64; 2]) -> u128 {
    p[0].load(Relaxed) as u128 | (p[1].load(Relaxed) as u128) << 64
}

#[inline(always)]
fn store128(p: &[AtomicU64; 2], v: u128) {
    p[0].store(v as u64, Relaxed);
    p[1].store((v >> 64) as u64, Relaxed);
}

impl StatsCell {
    /// An empty cell.
    pub fn new() -> Self {
        let c = StatsCell::default();
        c.min.store(i64::MAX, Relaxed);
        c.max.store(i64::MIN, Relaxed);
        c
    }

    /// Adds a sample. Owner thread only, inside [`SeqGuard`].
    ///
    /// Sums wrap instead of saturating like [`Stats::record`]: overflowing the i128 sum or the
    /// u128 sum of squares takes more than 2^64 laps of 292-year regions.
    #[inline]
    pub fn record(&self, v: i64) {
        self.laps.store(self.laps.load(Relaxed) + 1, Relaxed);
        store128(
            &self.sum,
            load128(&self.sum).wrapping_add(v as i128 as u128),
        );
        let sq = (v as i128 * v as i128) as u128;
        store128(&self.sumsq, load128(&self.sumsq).wrapping_add(sq));
        if v < self.min.load(Relaxed) {
            self.min.store(v, Relaxed);
        }
        if v > self.max.load(Relaxed) {
            self.max.store(v, Relaxed);
        }
    }

    /// Reads the statistics (a reader must validate with the node's sequence counter).
    #[inline]
    pub fn load(&self) -> Stats {
        Stats {
            laps: self.laps.load(Relaxed),
            sum: load128(&self.sum) as i128,
            sumsq: load128(&self.sumsq),
            min: self.min.load(Relaxed),
            max: self.max.load(Relaxed),
        }
    }
}

/// A node's sequence counter: odd while its owner is writing.
#[derive(Default)]
pub struct Seq(AtomicU32);

/// Marks a write in progress for as long as it lives.
pub struct SeqGuard<'a>(&'a AtomicU32);

impl Seq {
    /// Starts a write (owner thread only).
    #[inline]
    pub fn write(&self) -> SeqGuard<'_> {
        let s = self.0.load(Relaxed);
        self.0.store(s.wrapping_add(1), Relaxed);
        // Orders the odd counter before the data stores that follow.
        fence(Release);
        SeqGuard(&self.0)
    }

    /// Copies data consistently: `read` is retried until no write overlapped it.
    pub fn read<T>(&self, mut read: impl FnMut() -> T) -> T {
        loop {
            let before = self.0.load(Acquire);
            if before.is_multiple_of(2) {
                let value = read();
                fence(Acquire);
                if self.0.load(Relaxed) == before {
                    return value;
                }
            }
            std::hint::spin_loop();
        }
    }
}

impl Drop for SeqGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        let s = self.0.load(Relaxed);
        self.0.store(s.wrapping_add(1), Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn cell_matches_plain_stats() {
        let cell = StatsCell::new();
        let mut plain = Stats::EMPTY;
        assert_eq!(cell.load(), plain);
        for v in [5, -3, 1 << 40, 7] {
            cell.record(v);
            plain.record(v);
        }
        assert_eq!(cell.load(), plain);
    }

    #[test]
    fn reader_never_sees_a_torn_update() {
        // The writer keeps laps == sum (every sample is 1); a torn read would break that.
        let shared = Arc::new((Seq::default(), StatsCell::new()));
        let w = shared.clone();
        let writer = std::thread::spawn(move || {
            for _ in 0..200_000 {
                let _g = w.0.write();
                w.1.record(1);
            }
        });
        for _ in 0..20_000 {
            let s = shared.0.read(|| shared.1.load());
            assert_eq!(s.laps as i128, s.sum);
        }
        writer.join().unwrap();
        assert_eq!(shared.1.load().laps, 200_000);
    }
}
