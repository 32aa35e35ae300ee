//! Peak FLOP/s kernels: independent chains of multiply-adds, enough of them to hide the
//! instruction's latency (a chain waits for its previous result; the core starts one per
//! pipe per cycle, so latency x pipes chains keep every pipe busy), at each instruction set's
//! vector width and one lane (scalar), in double and single precision.
//!
//! Each step is `acc = acc * MULTIPLIER + ADDEND`, which converges to 1: values stay near 1,
//! never overflow nor become denormal (denormals are slow and would understate the peak).
//! Every chain starts from its own value so that the compiler cannot merge identical chains,
//! and every lane of every chain is summed into the result so that none is dead code; the
//! result is checked against the closed form in the tests, proving each kernel does the work
//! its FLOP count claims.
//!
//! The scalar kernels are one instruction of inline assembly per step: written as plain code,
//! the compiler packs independent scalar chains into vectors, which would measure the vector
//! peak twice.

use super::isa::Isa;

/// The multiply-add step's factor and addend (their sum is 1: the fixed point is 1).
pub const MULTIPLIER: f64 = 0.99;
/// See [`MULTIPLIER`].
pub const ADDEND: f64 = 0.01;

/// The starting value of chain `k` (all different, all in [2, 3)).
pub fn start_value(k: usize) -> f64 {
    2.0 + k as f64 / 64.0
}

/// Floating-point precision of a kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Precision {
    /// 64-bit `f64`.
    Double,
    /// 32-bit `f32`.
    Single,
}

/// One peak kernel: what it runs and how many FLOPs one iteration does.
#[derive(Clone, Copy, Debug)]
pub struct PeakKernel {
    /// The instruction set it uses.
    pub isa: Isa,
    /// Its precision.
    pub precision: Precision,
    /// Full vector width (true) or one lane (false).
    pub vector: bool,
    /// Independent chains.
    pub chains: usize,
    /// Lanes per chain (1 for scalar).
    pub lanes: usize,
    run: unsafe fn(u64) -> f64,
}

impl PeakKernel {
    /// The kernel for `isa` at `precision`, vector or scalar; `None` when the CPU cannot run it.
    pub fn new(isa: Isa, precision: Precision, vector: bool) -> Option<PeakKernel> {
        if !isa.runs_here() {
            return None;
        }
        let (chains, run) = imp::select(isa, precision, vector)?;
        let element = match precision {
            Precision::Double => 8,
            Precision::Single => 4,
        };
        let lanes = if vector {
            (isa.vector_bytes() / element).max(1)
        } else {
            1
        };
        Some(PeakKernel {
            isa,
            precision,
            vector,
            chains,
            lanes,
            run,
        })
    }

    /// FLOPs of one iteration: two (a multiply and an add) per lane per chain.
    pub fn flops_per_iteration(&self) -> f64 {
        (2 * self.chains * self.lanes) as f64
    }

    /// Runs `iterations` steps of every chain; returns the sum of every lane of every chain.
    pub fn run(&self, iterations: u64) -> f64 {
        // SAFETY: `new` only builds kernels whose instruction set `runs_here`.
        unsafe { (self.run)(iterations) }
    }

    /// What `run(iterations)` returns, from the closed form of the recurrence:
    /// `x_n = 1 + (x_0 - 1) * MULTIPLIER^n` per lane.
    pub fn expected(&self, iterations: u64) -> f64 {
        let decay = MULTIPLIER.powf(iterations as f64);
        (0..self.chains)
            .map(|k| (1.0 + (start_value(k) - 1.0) * decay) * self.lanes as f64)
            .sum()
    }
}

/// The steps of `$chains` independent chains, `$iters` times: `$splat` makes a vector of one
/// value, `$step(x, a, b)` is `x * a + b`, `$sum` adds a vector's lanes into an f64.
macro_rules! chains {
    ($iters:expr, $chains:literal, $splat:expr, $step:expr, $sum:expr) => {{
        let a = $splat(MULTIPLIER as _);
        let b = $splat(ADDEND as _);
        let mut acc = [$splat(0.0 as _); $chains];
        for (k, x) in acc.iter_mut().enumerate() {
            *x = $splat(start_value(k) as _);
        }
        for _ in 0..$iters {
            for x in acc.iter_mut() {
                *x = $step(*x, a, b);
            }
        }
        acc.iter().map(|&x| $sum(x)).sum::<f64>()
    }};
}

/// `x * a + b` as one block of inline assembly (`$asm` names its operands `{x}`, `{a}`, `{b}`):
/// opaque to the compiler, which cannot pack several of them into one vector instruction.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
macro_rules! asm_step {
    ($ty:ty, $class:ident, $($asm:literal),+) => {
        |mut x: $ty, a: $ty, b: $ty| {
            // SAFETY: registers only, no memory; the kernel's caller checked the instructions
            // exist on this CPU.
            unsafe {
                asm!($($asm),+, x = inout($class) x, a = in($class) a, b = in($class) b,
                     options(pure, nomem, nostack))
            };
            x
        }
    };
}

#[cfg(target_arch = "x86_64")]
mod imp {
    use super::{start_value, Isa, Precision, ADDEND, MULTIPLIER};
    use std::arch::asm;
    use std::arch::x86_64::*;

    type Kernel = (usize, unsafe fn(u64) -> f64);

    /// Chains per kernel: 16 vector registers with AVX2 (12 chains, the two constants, two
    /// spare), 32 with AVX-512. Twelve covers 4-cycle latency on 2 pipes with room to spare
    /// (Zen, Skylake, Ice Lake); AVX-512 parts with 2 FMA units need 8-10.
    pub(super) fn select(isa: Isa, p: Precision, vector: bool) -> Option<Kernel> {
        use Precision::*;
        Some(match (isa, p, vector) {
            (Isa::Avx512, Double, true) => (24, avx512_f64),
            (Isa::Avx512, Single, true) => (24, avx512_f32),
            (Isa::Avx2Fma, Double, true) => (12, avx2_f64),
            (Isa::Avx2Fma, Single, true) => (12, avx2_f32),
            (Isa::Sse2, Double, true) => (12, sse2_f64),
            (Isa::Sse2, Single, true) => (12, sse2_f32),
            // Scalar FMA exists wherever AVX2+FMA or AVX-512 does.
            (Isa::Avx512 | Isa::Avx2Fma, Double, false) => (12, fma_scalar_f64),
            (Isa::Avx512 | Isa::Avx2Fma, Single, false) => (12, fma_scalar_f32),
            (Isa::Sse2, Double, false) => (12, sse2_scalar_f64),
            (Isa::Sse2, Single, false) => (12, sse2_scalar_f32),
            _ => return None,
        })
    }

    fn lanes_f64<const N: usize, V>(v: V) -> f64 {
        assert_eq!(std::mem::size_of::<V>(), N * 8);
        // SAFETY: V is a vector of N f64 lanes (size checked above), read as an array of them.
        let lanes: [f64; N] = unsafe { std::mem::transmute_copy(&v) };
        lanes.iter().sum()
    }

    fn lanes_f32<const N: usize, V>(v: V) -> f64 {
        assert_eq!(std::mem::size_of::<V>(), N * 4);
        // SAFETY: V is a vector of N f32 lanes (size checked above), read as an array of them.
        let lanes: [f32; N] = unsafe { std::mem::transmute_copy(&v) };
        lanes.iter().map(|&x| f64::from(x)).sum()
    }

    // AVX-512 intrinsics are stable from Rust 1.89, the workspace's rust-version.
    #[target_feature(enable = "avx512f")]
    unsafe fn avx512_f64(n: u64) -> f64 {
        chains!(n, 24, _mm512_set1_pd, _mm512_fmadd_pd, lanes_f64::<8, _>)
    }

    // AVX-512 intrinsics are stable from Rust 1.89, the workspace's rust-version.
    #[target_feature(enable = "avx512f")]
    unsafe fn avx512_f32(n: u64) -> f64 {
        chains!(n, 24, _mm512_set1_ps, _mm512_fmadd_ps, lanes_f32::<16, _>)
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn avx2_f64(n: u64) -> f64 {
        chains!(n, 12, _mm256_set1_pd, _mm256_fmadd_pd, lanes_f64::<4, _>)
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn avx2_f32(n: u64) -> f64 {
        chains!(n, 12, _mm256_set1_ps, _mm256_fmadd_ps, lanes_f32::<8, _>)
    }

    unsafe fn sse2_f64(n: u64) -> f64 {
        let step = |x, a, b| _mm_add_pd(_mm_mul_pd(x, a), b);
        chains!(n, 12, _mm_set1_pd, step, lanes_f64::<2, _>)
    }

    unsafe fn sse2_f32(n: u64) -> f64 {
        let step = |x, a, b| _mm_add_ps(_mm_mul_ps(x, a), b);
        chains!(n, 12, _mm_set1_ps, step, lanes_f32::<4, _>)
    }

    #[target_feature(enable = "fma")]
    unsafe fn fma_scalar_f64(n: u64) -> f64 {
        let step = asm_step!(f64, xmm_reg, "vfmadd213sd {x}, {a}, {b}");
        chains!(n, 12, |v: f64| v, step, |x: f64| x)
    }

    #[target_feature(enable = "fma")]
    unsafe fn fma_scalar_f32(n: u64) -> f64 {
        let step = asm_step!(f32, xmm_reg, "vfmadd213ss {x}, {a}, {b}");
        chains!(n, 12, |v: f32| v, step, f64::from)
    }

    unsafe fn sse2_scalar_f64(n: u64) -> f64 {
        let step = asm_step!(f64, xmm_reg, "mulsd {x}, {a}", "addsd {x}, {b}");
        chains!(n, 12, |v: f64| v, step, |x: f64| x)
    }

    unsafe fn sse2_scalar_f32(n: u64) -> f64 {
        let step = asm_step!(f32, xmm_reg, "mulss {x}, {a}", "addss {x}, {b}");
        chains!(n, 12, |v: f32| v, step, f64::from)
    }
}

#[cfg(target_arch = "aarch64")]
mod imp {
    use super::{start_value, Isa, Precision, ADDEND, MULTIPLIER};
    use std::arch::aarch64::*;
    use std::arch::asm;

    type Kernel = (usize, unsafe fn(u64) -> f64);

    /// 32 vector registers: 24 chains cover 4-cycle latency on up to 4 pipes (Neoverse V1/V2)
    /// with the constants and spares left.
    pub(super) fn select(isa: Isa, p: Precision, vector: bool) -> Option<Kernel> {
        use Precision::*;
        Some(match (isa, p, vector) {
            (Isa::Neon, Double, true) => (24, neon_f64),
            (Isa::Neon, Single, true) => (24, neon_f32),
            (Isa::Neon, Double, false) => (24, scalar_f64),
            (Isa::Neon, Single, false) => (24, scalar_f32),
            _ => return None,
        })
    }

    fn sum_f64(v: float64x2_t) -> f64 {
        // SAFETY: NEON is the AArch64 baseline.
        unsafe { vaddvq_f64(v) }
    }

    fn sum_f32(v: float32x4_t) -> f64 {
        // SAFETY: NEON is the AArch64 baseline.
        f64::from(unsafe { vaddvq_f32(v) })
    }

    unsafe fn neon_f64(n: u64) -> f64 {
        let step = |x, a, b| vfmaq_f64(b, x, a);
        chains!(n, 24, vdupq_n_f64, step, sum_f64)
    }

    unsafe fn neon_f32(n: u64) -> f64 {
        let step = |x, a, b| vfmaq_f32(b, x, a);
        chains!(n, 24, vdupq_n_f32, step, sum_f32)
    }

    unsafe fn scalar_f64(n: u64) -> f64 {
        let step = asm_step!(f64, vreg, "fmadd {x:d}, {x:d}, {a:d}, {b:d}");
        chains!(n, 24, |v: f64| v, step, |x: f64| x)
    }

    unsafe fn scalar_f32(n: u64) -> f64 {
        let step = asm_step!(f32, vreg, "fmadd {x:s}, {x:s}, {a:s}, {b:s}");
        chains!(n, 24, |v: f32| v, step, f64::from)
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
mod imp {
    use super::{start_value, Isa, Precision, ADDEND, MULTIPLIER};

    type Kernel = (usize, unsafe fn(u64) -> f64);

    /// Portable code only: the compiler may vectorise the "vector" kernels or not.
    pub(super) fn select(isa: Isa, p: Precision, _vector: bool) -> Option<Kernel> {
        Some(match (isa, p) {
            (Isa::Scalar, Precision::Double) => (12, portable_f64),
            (Isa::Scalar, Precision::Single) => (12, portable_f32),
            _ => return None,
        })
    }

    unsafe fn portable_f64(n: u64) -> f64 {
        chains!(n, 12, |v: f64| v, |x: f64, a, b| x * a + b, |x: f64| x)
    }

    unsafe fn portable_f32(n: u64) -> f64 {
        chains!(n, 12, |v: f32| v, |x: f32, a, b| x * a + b, f64::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kernel this CPU runs does exactly the steps it counts: its result matches the
    /// closed form after n steps and differs from the one after n - 1.
    #[test]
    fn every_runnable_kernel_computes_its_recurrence() {
        let mut seen = 0;
        for isa in Isa::runnable() {
            for precision in [Precision::Double, Precision::Single] {
                for vector in [true, false] {
                    let Some(k) = PeakKernel::new(isa, precision, vector) else {
                        continue;
                    };
                    seen += 1;
                    let n = 50;
                    let got = k.run(n);
                    let tol = 1e-4 * got.abs();
                    assert!((got - k.expected(n)).abs() < tol, "{k:?}: {got}");
                    assert!((got - k.expected(n - 1)).abs() > 10.0 * tol, "{k:?}");
                    assert!(k.flops_per_iteration() >= 2.0 * k.chains as f64);
                    if vector && isa != Isa::Scalar {
                        assert!(k.lanes >= 2, "{k:?}");
                    }
                }
            }
        }
        assert!(seen >= 2, "at least one vector and one scalar kernel");
    }

    #[test]
    fn long_runs_stay_finite_and_near_one() {
        let isa = super::super::isa::detect().isa;
        let k = PeakKernel::new(isa, Precision::Single, true).unwrap();
        let per_lane = k.run(1_000_000) / (k.chains * k.lanes) as f64;
        assert!((per_lane - 1.0).abs() < 1e-3, "{per_lane}");
    }
}
