//! Recognising that a parallel launcher started this process.

/// Variables set by the launchers we know, in the order they are checked: Open MPI's mpirun,
/// PMI-1/2 (MPICH's Hydra, Intel MPI), PMIx (Open MPI 5, `srun --mpi=pmix`) and Slurm's srun.
const LAUNCHER_VARS: [&str; 4] = [
    "OMPI_COMM_WORLD_SIZE",
    "PMI_SIZE",
    "PMIX_RANK",
    "SLURM_STEP_NUM_TASKS",
];

/// The environment variable that shows a launcher started this process, if any.
///
/// Initialising MPI is collective, so the runtime must decide at start-up, on every rank alike,
/// whether to do it; the launcher's environment is the one signal every rank sees.
pub fn launcher() -> Option<&'static str> {
    launcher_in(|k| std::env::var_os(k).is_some())
}

fn launcher_in(has: impl Fn(&str) -> bool) -> Option<&'static str> {
    LAUNCHER_VARS.into_iter().find(|k| has(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_known_variable_wins() {
        assert_eq!(launcher_in(|_| false), None);
        assert_eq!(launcher_in(|k| k == "PMIX_RANK"), Some("PMIX_RANK"));
        assert_eq!(
            launcher_in(|k| k == "PMI_SIZE" || k == "SLURM_STEP_NUM_TASKS"),
            Some("PMI_SIZE")
        );
    }
}
