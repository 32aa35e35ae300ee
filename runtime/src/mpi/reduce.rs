//! Bringing every rank's profile to rank 0.
//!
//! [`reduce_to_root`] walks a binomial tree: in round k a rank whose bit k is set sends what it
//! has gathered so far to `rank - 2^k` and is done; the others receive from `rank + 2^k` (when
//! that rank exists) and append its columns after their own. After ceil(log2 P) rounds rank 0
//! holds every rank's columns in rank order. No rank ever receives more than half of the data
//! in one message, and each hop merges, so shared nodes are stored once per level rather than
//! once per rank.

use super::host::rank_info;
use super::init::{usable, world, WorldInfo};
use crate::profile::{Profile, RankInfo};

/// Largest single message of the reduction, in bytes. MPI counts are `int`: one message of
/// 2 GiB or more cannot be described, so bigger profiles travel in chunks of this size.
pub const MAX_CHUNK: usize = 1 << 30;

/// Collective over `MPI_COMM_WORLD`: every rank must call it, in the same order relative to its
/// other collectives. Rank 0 gets `Some` with every rank's data as columns in rank order (see
/// [`Profile::concat_ranks`]); the other ranks get `None`. [`reduce_to_root_keeping`] keeps
/// only some ranks' columns.
///
/// Each rank's column is labelled with its rank, host name and pid (when the profile does not
/// have a rank column yet, see [`Profile::assign_rank`]); rank 0 adds `mpi.world.size`,
/// `mpi.version` and `mpi.library_version` to the metadata. A rank may contribute an empty
/// profile, and the number of ranks need not be a power of two.
///
/// Without MPI (no launcher, or built without the `mpi` feature) this process is the world:
/// the result is `Some(local)`. Once MPI has been finalised no communication is possible: rank 0
/// gets its own data with a diagnostic saying so, the others `None`.
pub fn reduce_to_root(local: Profile) -> Option<Profile> {
    reduce_to_root_chunked(local, MAX_CHUNK)
}

/// [`reduce_to_root`] keeping the values (columns) only of the ranks `keep` accepts; the other
/// ranks' values reach rank 0 only through the statistics over ranks of each node
/// ([`crate::profile::Spread`]: count, sum, sum of squares, smallest and largest rank with their
/// statistics), which merge at each hop, so a hop carries O(nodes) whatever the number of ranks
/// behind it. `keep` is asked on each rank about that rank only. The result's
/// [`Profile::rank_count`] is the job's size; its `ranks` are the kept ones, in rank order.
pub fn reduce_to_root_keeping(mut local: Profile, keep: &dyn Fn(u32) -> bool) -> Option<Profile> {
    let w = world();
    label(&mut local, &w);
    if !usable(&w) {
        local.keep_ranks(keep);
        return alone(local, &w);
    }
    let root = imp::reduce(local, MAX_CHUNK, keep(w.rank));
    root.map(|p| stamp(p, &w))
}

/// [`reduce_to_root`] with messages cut into pieces of at most `chunk` bytes (clamped to
/// 1..=[`MAX_CHUNK`]). Ranks may pass different values: each message says its own piece size.
/// Small values exist to exercise the chunked path in tests.
pub fn reduce_to_root_chunked(mut local: Profile, chunk: usize) -> Option<Profile> {
    let w = world();
    label(&mut local, &w);
    if !usable(&w) {
        return alone(local, &w);
    }
    let root = imp::reduce(local, chunk.clamp(1, MAX_CHUNK), true);
    root.map(|p| stamp(p, &w))
}

/// Reference implementation for benchmarks: every rank's encoded profile goes to rank 0 in one
/// `MPI_Gatherv`, and rank 0 decodes and appends them in rank order. Same result as
/// [`reduce_to_root`] but rank 0 holds every encoded profile at once, and `MPI_Gatherv`'s `int`
/// counts and displacements cap the total at 2 GiB: above that it falls back to
/// [`reduce_to_root`] (all ranks agree on it first). Collective.
pub fn gather_to_root(mut local: Profile) -> Option<Profile> {
    let w = world();
    label(&mut local, &w);
    if !usable(&w) {
        return alone(local, &w);
    }
    let root = imp::gather(local);
    root.map(|p| stamp(p, &w))
}

/// Gives a one-process profile its rank column; the rank number is always this process's world
/// rank (whatever the caller put there), host name, pid and binding are filled when missing.
fn label(local: &mut Profile, w: &WorldInfo) {
    let me = rank_info(w.rank);
    local.assign_rank(me.clone());
    if let [only] = local.ranks.as_mut_slice() {
        let RankInfo {
            rank,
            hostname,
            pid,
            binding,
            // The sampler's series come with the profile (lifecycle::get), never from here.
            samples: _,
            clock_offset_ns,
        } = me;
        only.rank = rank;
        if only.hostname.is_empty() {
            only.hostname = hostname;
        }
        if only.pid == 0 {
            only.pid = pid;
        }
        if only.binding.is_none() {
            only.binding = binding;
        }
        if only.clock_offset_ns.is_none() {
            only.clock_offset_ns = clock_offset_ns;
        }
    }
}

fn alone(mut local: Profile, w: &WorldInfo) -> Option<Profile> {
    if w.rank != 0 {
        return None;
    }
    if w.mpi && w.size > 1 {
        local
            .diagnostics
            .push("MPI was finalised before the reduction: only rank 0's data".into());
    }
    Some(stamp(local, w))
}

/// Facts about the job that only rank 0's merged result can state.
fn stamp(mut p: Profile, w: &WorldInfo) -> Profile {
    p.metadata.insert("mpi.world.size".into(), w.size.into());
    if w.mpi {
        p.metadata
            .insert("mpi.version".into(), w.mpi_version.clone().into());
        p.metadata.insert(
            "mpi.library_version".into(),
            w.library_version.clone().into(),
        );
    }
    p
}

#[cfg(feature = "mpi")]
mod imp {
    use super::super::patient::{private_world, wait};
    use crate::profile::{encode, encode_with, Partial, Profile};
    use mpi::collective::CommunicatorCollectives;
    use mpi::datatype::PartitionMut;
    use mpi::point_to_point::{Destination, Source};
    use mpi::topology::{Communicator, SimpleCommunicator};
    use mpi::traits::Root;
    use mpi::Count;

    const TAG_HEADER: i32 = 1;
    const TAG_DATA: i32 = 2;
    const TAG_GO: i32 = 3;

    /// What a rank holds during the reduction: its own profile until it first receives (a rank
    /// that only sends never builds the travelling form), then the merged travelling form.
    enum Held {
        Own(Profile),
        Merged(Partial),
    }

    /// `keep_mine`: whether this rank's values travel as its column (else only in the spreads).
    pub(super) fn reduce(local: Profile, chunk: usize, keep_mine: bool) -> Option<Profile> {
        let comm = private_world();
        let (rank, size) = (comm.rank(), comm.size());
        let mut held = Held::Own(local);
        let mut step: i32 = 1;
        while step < size {
            if rank & step != 0 {
                let bytes = match &held {
                    Held::Own(p) => encode_with(p, keep_mine),
                    Held::Merged(p) => p.to_bytes(),
                };
                // Free it before waiting on the receiver.
                drop(held);
                send(&comm, rank - step, &bytes, chunk);
                return None;
            }
            if rank + step < size {
                let bytes = recv(&comm, rank + step);
                let mut acc = match held {
                    Held::Own(p) => {
                        let mut form = Partial::from_profile(p);
                        if !keep_mine {
                            form.drop_columns();
                        }
                        form
                    }
                    Held::Merged(p) => p,
                };
                match Partial::from_bytes(&bytes) {
                    Ok(other) => {
                        drop(bytes);
                        acc.concat(other)
                    }
                    Err(e) => acc.header.diagnostics.push(format!(
                        "reduction: data from ranks {}..{} lost: {e}",
                        rank + step,
                        (rank + 2 * step).min(size)
                    )),
                }
                held = Held::Merged(acc);
            }
            step = step.saturating_mul(2);
        }
        Some(match held {
            Held::Own(mut p) => {
                if !keep_mine {
                    p.keep_ranks(|_| false);
                }
                p
            }
            Held::Merged(p) => p.into_profile(),
        })
    }

    /// Header (total length, piece size), then, once the receiver says it is ready, the pieces.
    ///
    /// Waiting for the peer to finish its own work is done patiently (it may take long and must
    /// not steal its CPU); moving the data is done with blocking calls on both sides, because
    /// a large message moves in fragments that only progress while both sides call into MPI:
    /// polling it with pauses made a 32 MB transfer take a second.
    fn send(comm: &SimpleCommunicator, dest: i32, bytes: &[u8], chunk: usize) {
        let p = comm.process_at_rank(dest);
        let header = [bytes.len() as u64, chunk as u64];
        let mut go = 0u8;
        mpi::request::scope(|scope| {
            wait(p.immediate_send_with_tag(scope, &header, TAG_HEADER));
            wait(p.immediate_receive_into_with_tag(scope, &mut go, TAG_GO));
        });
        for piece in bytes.chunks(chunk) {
            p.send_with_tag(piece, TAG_DATA);
        }
    }

    fn recv(comm: &SimpleCommunicator, src: i32) -> Vec<u8> {
        let p = comm.process_at_rank(src);
        let mut header = [0u64; 2];
        mpi::request::scope(|scope| {
            wait(p.immediate_receive_into_with_tag(scope, &mut header, TAG_HEADER));
        });
        let (len, chunk) = (header[0] as usize, (header[1] as usize).max(1));
        let mut buf = vec![0u8; len];
        p.send_with_tag(&1u8, TAG_GO);
        for piece in buf.chunks_mut(chunk) {
            p.receive_into_with_tag(piece, TAG_DATA);
        }
        buf
    }

    pub(super) fn gather(local: Profile) -> Option<Profile> {
        let comm = private_world();
        let (rank, size) = (comm.rank(), comm.size() as usize);
        let bytes = encode(&local);
        drop(local);
        // Every rank must take the same path, so agree on the total first.
        let mut total: u64 = 0;
        let mine = bytes.len() as u64;
        mpi::request::scope(|scope| {
            wait(comm.immediate_all_reduce_into(
                scope,
                &mine,
                &mut total,
                mpi::collective::SystemOperation::sum(),
            ));
        });
        if total > i32::MAX as u64 {
            drop(comm);
            let p = Partial::from_bytes(&bytes).expect("own encoding decodes");
            return reduce(p.into_profile(), super::MAX_CHUNK, true);
        }
        let root = comm.process_at_rank(0);
        let len = bytes.len() as Count;
        if rank != 0 {
            mpi::request::scope(|scope| {
                wait(root.immediate_gather_into(scope, &len));
            });
            // Blocking while the data moves (see `send`).
            root.gather_varcount_into(&bytes[..]);
            return None;
        }
        let mut counts = vec![0 as Count; size];
        mpi::request::scope(|scope| {
            wait(root.immediate_gather_into_root(scope, &len, &mut counts[..]));
        });
        let displs: Vec<Count> = counts
            .iter()
            .scan(0, |at, &c| {
                let d = *at;
                *at += c;
                Some(d)
            })
            .collect();
        let mut all = vec![0u8; total as usize];
        {
            let mut part = PartitionMut::new(&mut all[..], &counts[..], &displs[..]);
            root.gather_varcount_into_root(&bytes[..], &mut part);
        }
        drop(bytes);
        let mut acc: Option<Partial> = None;
        for (c, d) in counts.iter().zip(&displs) {
            let piece = &all[*d as usize..(*d + *c) as usize];
            match (Partial::from_bytes(piece), acc.as_mut()) {
                (Ok(p), Some(a)) => a.concat(p),
                (Ok(p), None) => acc = Some(p),
                (Err(e), Some(a)) => a
                    .header
                    .diagnostics
                    .push(format!("gather: a rank's data lost: {e}")),
                (Err(_), None) => {}
            }
        }
        Some(acc.map_or_else(Profile::new, Partial::into_profile))
    }
}

#[cfg(not(feature = "mpi"))]
mod imp {
    use crate::profile::Profile;

    // Never reached: without MPI `usable` is false and the callers return early.
    pub(super) fn reduce(local: Profile, _chunk: usize, _keep_mine: bool) -> Option<Profile> {
        Some(local)
    }

    pub(super) fn gather(local: Profile) -> Option<Profile> {
        Some(local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_launcher_the_process_is_the_world() {
        // cargo test runs without mpirun: no MPI is initialised, rank 0 of 1.
        let p = reduce_to_root(Profile::new()).expect("rank 0 gets the result");
        assert_eq!(p.ranks.len(), 1);
        assert_eq!(p.ranks[0].pid, std::process::id());
        assert_eq!(p.metadata["mpi.world.size"], 1);
    }
}
