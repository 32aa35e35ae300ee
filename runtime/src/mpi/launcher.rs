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

/// Where launchers put the rank, most specific first. `SLURM_PROCID` comes last: under
/// `mpirun` inside an sbatch job every rank inherits the batch step's `SLURM_PROCID=0`.
const RANK_VARS: [&str; 4] = [
    "OMPI_COMM_WORLD_RANK",
    "PMIX_RANK",
    "PMI_RANK",
    "SLURM_PROCID",
];
/// Where launchers put the number of ranks, in the same order.
const SIZE_VARS: [&str; 4] = [
    "OMPI_COMM_WORLD_SIZE",
    "PMI_SIZE",
    "SLURM_STEP_NUM_TASKS",
    "SLURM_NTASKS",
];

/// This process's rank and the job's size as its launcher announced them, before (or without)
/// joining MPI: lets a process name its rank (snapshot folders, messages) while MPI is not
/// initialised yet. `None` without a launcher. When no size variable is set (PMIx alone) the
/// size is the smallest consistent with the rank.
pub fn launched_rank() -> Option<(u32, u32)> {
    launched_rank_in(|k| std::env::var(k).ok())
}

fn launched_rank_in(get: impl Fn(&str) -> Option<String>) -> Option<(u32, u32)> {
    let number = |vars: &[&str]| vars.iter().find_map(|k| get(k)?.trim().parse::<u32>().ok());
    let rank = number(&RANK_VARS)?;
    let size = number(&SIZE_VARS).unwrap_or(0).max(rank + 1);
    Some((rank, size))
}

/// An identifier of the launched job step, the same on every rank of one launch and different
/// for a launch nested inside it: PMIx's namespace, else Slurm's job and step ids, else empty.
pub fn launch_id() -> String {
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    let pmix = var("PMIX_NAMESPACE");
    if !pmix.is_empty() {
        return pmix;
    }
    let job = var("SLURM_JOB_ID");
    if job.is_empty() {
        return String::new();
    }
    format!("{job}.{}", var("SLURM_STEP_ID"))
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

    #[test]
    fn launched_rank_prefers_the_mpi_launcher_over_slurm() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(launched_rank_in(env(&[])), None);
        // mpirun inside sbatch: every rank inherits SLURM_PROCID=0.
        let mpirun_in_sbatch = env(&[
            ("SLURM_PROCID", "0"),
            ("SLURM_NTASKS", "1"),
            ("OMPI_COMM_WORLD_RANK", "3"),
            ("OMPI_COMM_WORLD_SIZE", "4"),
        ]);
        assert_eq!(launched_rank_in(mpirun_in_sbatch), Some((3, 4)));
        let srun_pmix = env(&[
            ("PMIX_RANK", "5"),
            ("SLURM_PROCID", "5"),
            ("SLURM_NTASKS", "8"),
        ]);
        assert_eq!(launched_rank_in(srun_pmix), Some((5, 8)));
        // PMIx alone announces no size: the smallest that holds the rank.
        assert_eq!(launched_rank_in(env(&[("PMIX_RANK", "2")])), Some((2, 3)));
        assert_eq!(launched_rank_in(env(&[("PMI_RANK", "x")])), None);
    }
}
