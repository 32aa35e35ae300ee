//! Which vector instructions this CPU runs, detected at run time (the binary is built for the
//! baseline of its target, so the widest kernels are chosen when the program starts, not when
//! it is compiled).

use serde::{Deserialize, Serialize};

/// The widest vector instruction set the peak and bandwidth kernels use here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Isa {
    /// x86-64 with AVX-512F: 512-bit fused multiply-adds.
    Avx512,
    /// x86-64 with AVX2 and FMA: 256-bit fused multiply-adds.
    Avx2Fma,
    /// x86-64 without FMA (SSE2 is its baseline): 128-bit multiplies and adds, two instructions
    /// per multiply-add.
    Sse2,
    /// AArch64 (Advanced SIMD is its baseline): 128-bit fused multiply-adds. SVE, when the CPU
    /// has it, is named in [`Detected::notes`]: Rust has no stable SVE intrinsics, so the kernels
    /// stay at 128 bits.
    Neon,
    /// Any other architecture: portable code, vectorised only as far as the compiler manages.
    Scalar,
}

impl Isa {
    /// The name in the ceilings JSON: `avx512`, `avx2+fma`, `sse2`, `neon`, `scalar`.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx512 => "avx512",
            Isa::Avx2Fma => "avx2+fma",
            Isa::Sse2 => "sse2",
            Isa::Neon => "neon",
            Isa::Scalar => "scalar",
        }
    }

    /// Bytes in one vector register of this instruction set (8 for portable code: one double).
    pub fn vector_bytes(self) -> usize {
        match self {
            Isa::Avx512 => 64,
            Isa::Avx2Fma => 32,
            Isa::Sse2 | Isa::Neon => 16,
            Isa::Scalar => 8,
        }
    }

    /// Whether one instruction does a multiply and an add (two FLOPs per lane).
    pub fn fused(self) -> bool {
        !matches!(self, Isa::Sse2 | Isa::Scalar)
    }

    /// Every instruction set this build has kernels for that this CPU runs, widest first.
    pub fn runnable() -> Vec<Isa> {
        [Isa::Avx512, Isa::Avx2Fma, Isa::Sse2, Isa::Neon, Isa::Scalar]
            .into_iter()
            .filter(|isa| isa.runs_here())
            .collect()
    }

    /// Whether this CPU (and this build's target) can run this instruction set's kernels.
    pub fn runs_here(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Sse2 => true,
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => std::arch::is_aarch64_feature_detected!("neon"),
            Isa::Scalar => true,
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }
}

/// What run-time detection found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Detected {
    /// The widest instruction set with kernels that runs here.
    pub isa: Isa,
    /// Facts worth saying beside it (e.g. SVE present but not used).
    pub notes: Vec<String>,
}

/// The widest instruction set this CPU runs.
pub fn detect() -> Detected {
    let isa = Isa::runnable().first().copied().unwrap_or(Isa::Scalar);
    #[allow(unused_mut)]
    let mut notes = Vec::new();
    #[cfg(target_arch = "aarch64")]
    if std::arch::is_aarch64_feature_detected!("sve") {
        notes.push(
            "the CPU has SVE; the kernels use 128-bit NEON (Rust has no stable SVE intrinsics), \
             so peak FLOP/s may be below what SVE code reaches"
                .to_string(),
        );
    }
    Detected { isa, notes }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_picks_the_widest_that_runs() {
        let d = detect();
        assert!(d.isa.runs_here());
        assert_eq!(Some(&d.isa), Isa::runnable().first());
        assert!(Isa::runnable().contains(&Isa::Scalar));
        #[cfg(target_arch = "x86_64")]
        {
            assert!(Isa::runnable().contains(&Isa::Sse2));
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                assert!(matches!(d.isa, Isa::Avx512 | Isa::Avx2Fma), "{d:?}");
            }
        }
    }

    #[test]
    fn names_are_the_json_names() {
        let names: Vec<&str> = [Isa::Avx512, Isa::Avx2Fma, Isa::Sse2, Isa::Neon, Isa::Scalar]
            .iter()
            .map(|i| i.name())
            .collect();
        assert_eq!(names, ["avx512", "avx2+fma", "sse2", "neon", "scalar"]);
    }
}
