//! Bandwidth kernels over one thread's arrays of `f64`, at the widest instruction set here:
//!
//! | kernel | per element | bytes counted |
//! |---|---|---|
//! | load | `sum += x[i]` | 8 (one read) |
//! | copy | `y[i] = x[i]` (the C library's `memcpy`, as programs copy) | 16 (read + write) |
//! | triad | `a[i] = b[i] + s * c[i]` | 24 (two reads + one write) |
//!
//! Bytes counted are those the program asks for, as STREAM and likwid-bench count them: a
//! store that misses the cache also reads the line first (write-allocate), which these numbers
//! leave out.
//!
//! The loops are plain Rust compiled inside functions that enable the instruction set
//! (`#[target_feature]`), so the compiler vectorises them at that width; the load kernel keeps
//! eight vectors of partial sums so that the adds' latency never limits it.

use super::isa::Isa;
use std::hint::black_box;

/// A bandwidth kernel.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Kernel {
    /// Reads one array.
    Load,
    /// Reads one array and writes another.
    Copy,
    /// Reads two arrays and writes a third.
    Triad,
}

impl Kernel {
    /// All kernels, in the order they are measured and reported.
    pub const ALL: [Kernel; 3] = [Kernel::Load, Kernel::Copy, Kernel::Triad];

    /// Its name in the JSON: `load`, `copy`, `triad`.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Load => "load",
            Kernel::Copy => "copy",
            Kernel::Triad => "triad",
        }
    }

    /// How many arrays it touches (the working set is split evenly between them).
    pub fn arrays(self) -> usize {
        match self {
            Kernel::Load => 1,
            Kernel::Copy => 2,
            Kernel::Triad => 3,
        }
    }

    /// Bytes counted per element of one array.
    pub fn bytes_per_element(self) -> usize {
        8 * self.arrays()
    }
}

/// Elements per array are a multiple of this (the widest unrolled load step, 8 AVX-512 vectors).
pub const ELEMENT_STEP: usize = 64;

/// Elements of each array for a working set of `bytes` split between the kernel's arrays.
pub fn elements(kernel: Kernel, bytes: usize) -> usize {
    (bytes / kernel.bytes_per_element()) / ELEMENT_STEP * ELEMENT_STEP
}

/// Runs `kernel` `reps` times over the first `kernel.arrays() * n` elements of `buf`
/// (its arrays one after the other), at `isa`. Returns a value computed from what was read,
/// so that nothing can be optimised away. Panics if `buf` is too short.
pub fn run(isa: Isa, kernel: Kernel, buf: &mut [f64], n: usize, reps: u64) -> f64 {
    assert!(
        n > 0 && buf.len() >= kernel.arrays() * n,
        "buffer too short"
    );
    // The passes loop inside the kernels, so that a pass over a small working set (4 KiB
    // takes tens of ns from L1) pays no call or final reduction each time.
    match kernel {
        Kernel::Load => load(isa, &buf[..n], reps),
        Kernel::Copy => {
            let (x, y) = buf[..2 * n].split_at_mut(n);
            for _ in 0..reps {
                black_box(&mut *y).copy_from_slice(black_box(&*x));
            }
            y[n - 1]
        }
        Kernel::Triad => {
            let (a, rest) = buf[..3 * n].split_at_mut(n);
            let (b, c) = rest.split_at(n);
            triad(isa, a, b, c, 0.5, reps);
            a[n - 1]
        }
    }
}

fn load(isa: Isa, x: &[f64], reps: u64) -> f64 {
    match isa {
        // SAFETY: an Isa is only chosen when it `runs_here`.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { x86::load_avx512(x, reps) },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Fma => unsafe { x86::load_avx2(x, reps) },
        // 128-bit baselines (SSE2, NEON): 8 vectors of 2 doubles.
        Isa::Sse2 | Isa::Neon => load_body::<16>(x, reps),
        _ => load_body::<8>(x, reps),
    }
}

fn triad(isa: Isa, a: &mut [f64], b: &[f64], c: &[f64], s: f64, reps: u64) {
    match isa {
        // SAFETY: an Isa is only chosen when it `runs_here`.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { x86::triad_avx512(a, b, c, s, reps) },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Fma => unsafe { x86::triad_avx2(a, b, c, s, reps) },
        _ => triad_body(a, b, c, s, reps),
    }
}

/// `L` independent partial sums (L / lanes vectors once vectorised), kept over `reps` passes;
/// each pass reads `x` anew (hidden from the optimiser: passes cannot be merged or hoisted).
#[inline(always)]
fn load_body<const L: usize>(x: &[f64], reps: u64) -> f64 {
    let mut acc = [0.0f64; L];
    let mut rest = 0.0;
    for _ in 0..reps {
        let x = black_box(x);
        for chunk in x.chunks_exact(L) {
            for k in 0..L {
                acc[k] += chunk[k];
            }
        }
        rest += x.chunks_exact(L).remainder().iter().sum::<f64>();
    }
    acc.iter().sum::<f64>() + rest
}

#[inline(always)]
fn triad_body(a: &mut [f64], b: &[f64], c: &[f64], s: f64, reps: u64) {
    for _ in 0..reps {
        let a = black_box(&mut *a);
        for ((a, b), c) in a.iter_mut().zip(black_box(b)).zip(black_box(c)) {
            *a = b + s * c;
        }
    }
}

/// Fused: only called where FMA instructions exist (a `mul_add` elsewhere is a library call).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn triad_fused(a: &mut [f64], b: &[f64], c: &[f64], s: f64, reps: u64) {
    for _ in 0..reps {
        let a = black_box(&mut *a);
        for ((a, b), c) in a.iter_mut().zip(black_box(b)).zip(black_box(c)) {
            *a = c.mul_add(s, *b);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn load_avx2(x: &[f64], reps: u64) -> f64 {
        super::load_body::<32>(x, reps)
    }

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn load_avx512(x: &[f64], reps: u64) -> f64 {
        super::load_body::<64>(x, reps)
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn triad_avx2(a: &mut [f64], b: &[f64], c: &[f64], s: f64, reps: u64) {
        super::triad_fused(a, b, c, s, reps)
    }

    #[target_feature(enable = "avx512f,fma")]
    pub(super) unsafe fn triad_avx512(a: &mut [f64], b: &[f64], c: &[f64], s: f64, reps: u64) {
        super::triad_fused(a, b, c, s, reps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kernel at every instruction set that runs here computes what it claims (small
    /// whole numbers: sums are exact in any order).
    #[test]
    fn kernels_compute_their_loops() {
        for isa in Isa::runnable() {
            let n = 3 * ELEMENT_STEP + 8; // a remainder after the unrolled steps too
            let mut buf: Vec<f64> = (0..3 * n).map(|i| (i % 7) as f64).collect();
            let sum: f64 = buf[..n].iter().sum();
            assert_eq!(run(isa, Kernel::Load, &mut buf, n, 3), 3.0 * sum, "{isa:?}");

            run(isa, Kernel::Copy, &mut buf, n, 1);
            assert_eq!(buf[..n], buf[n..2 * n], "{isa:?}");

            let mut buf: Vec<f64> = (0..3 * n).map(|i| (i % 5) as f64).collect();
            let before = buf.clone();
            run(isa, Kernel::Triad, &mut buf, n, 2);
            for i in 0..n {
                assert_eq!(
                    buf[i],
                    before[n + i] + 0.5 * before[2 * n + i],
                    "{isa:?} {i}"
                );
            }
        }
    }

    #[test]
    fn working_sets_split_between_arrays() {
        assert_eq!(elements(Kernel::Load, 64 * 1024), 8192);
        assert_eq!(elements(Kernel::Copy, 64 * 1024), 4096);
        // 24 bytes per element do not divide 64 KiB: rounded down to whole steps.
        assert_eq!(elements(Kernel::Triad, 64 * 1024), 2688);
        assert_eq!(elements(Kernel::Triad, 100), 0);
    }
}
