//! The ranks of one host measuring together. Ceilings are a property of a node: its ranks
//! split off by host (`MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)` on a private duplicate of
//! `MPI_COMM_WORLD`), start every trial together between barriers so that shared caches and
//! memory are measured with the node busy, and send what they measured to the host's leader
//! (its lowest world rank), which sums the host; the leaders' hosts go to world rank 0.
//!
//! Without MPI (no launcher, or built without the `mpi` feature) a process is a host of one
//! and every call here is immediate.

/// This process's place among the ranks of its host and of the job.
pub struct Node {
    /// Rank among the ranks of this host (0: the host's leader).
    pub local_rank: u32,
    /// Ranks on this host.
    pub local_size: u32,
    /// Rank in `MPI_COMM_WORLD`.
    pub world_rank: u32,
    /// Ranks in `MPI_COMM_WORLD`.
    pub world_size: u32,
    #[cfg(feature = "mpi")]
    comms: Option<imp::Comms>,
}

impl Node {
    /// Joins the host's ranks when MPI is in use (a collective call: every rank of the job
    /// must make it), or stands alone.
    pub fn join() -> Node {
        #[cfg(feature = "mpi")]
        if let Some(comms) = imp::Comms::new() {
            return Node {
                local_rank: comms.local_rank(),
                local_size: comms.local_size(),
                world_rank: comms.world_rank(),
                world_size: comms.world_size(),
                comms: Some(comms),
            };
        }
        Node {
            local_rank: 0,
            local_size: 1,
            world_rank: 0,
            world_size: 1,
            #[cfg(feature = "mpi")]
            comms: None,
        }
    }

    /// Whether this rank speaks for its host.
    pub fn is_leader(&self) -> bool {
        self.local_rank == 0
    }

    /// Whether this is world rank 0, which writes the job's document.
    pub fn is_root(&self) -> bool {
        self.world_rank == 0
    }

    /// Waits for every rank of the host (without busy-polling).
    pub fn barrier(&self) {
        #[cfg(feature = "mpi")]
        if let Some(c) = &self.comms {
            c.node_barrier();
        }
    }

    /// The largest `value` among the host's ranks.
    pub fn max(&self, value: u64) -> u64 {
        #[cfg(feature = "mpi")]
        if let Some(c) = &self.comms {
            return c.node_max(value);
        }
        value
    }

    /// The sum of `value` over the host's ranks.
    pub fn sum(&self, value: u64) -> u64 {
        #[cfg(feature = "mpi")]
        if let Some(c) = &self.comms {
            return c.node_sum(value);
        }
        value
    }

    /// Whether `yes` holds on every rank of the job.
    pub fn everyone(&self, yes: bool) -> bool {
        #[cfg(feature = "mpi")]
        if let Some(c) = &self.comms {
            return c.world_min(u64::from(yes)) == 1;
        }
        yes
    }

    /// Every host rank's `bytes`, by local rank, on the leader; `None` elsewhere.
    pub fn gather_on_leader(&self, bytes: Vec<u8>) -> Option<Vec<Vec<u8>>> {
        #[cfg(feature = "mpi")]
        if let Some(c) = &self.comms {
            return c.gather(true, bytes);
        }
        Some(vec![bytes])
    }

    /// Every leader's `bytes` (others pass `None`), by world rank, on world rank 0; `None`
    /// elsewhere.
    pub fn gather_leaders_on_root(&self, bytes: Option<Vec<u8>>) -> Option<Vec<Vec<u8>>> {
        #[cfg(feature = "mpi")]
        if let Some(c) = &self.comms {
            // Non-leaders send nothing; their empty pieces are dropped.
            let all = c.gather(false, bytes.unwrap_or_default())?;
            return Some(all.into_iter().filter(|b| !b.is_empty()).collect());
        }
        Some(bytes.into_iter().collect())
    }

    /// World rank 0's `bytes`, on every rank.
    pub fn broadcast_from_root(&self, bytes: Vec<u8>) -> Vec<u8> {
        #[cfg(feature = "mpi")]
        if let Some(c) = &self.comms {
            return c.broadcast(bytes);
        }
        bytes
    }
}

#[cfg(feature = "mpi")]
mod imp {
    use crate::mpi::{private_world, wait};
    use mpi::collective::{CommunicatorCollectives, Root, SystemOperation};
    use mpi::datatype::PartitionMut;
    use mpi::topology::{Communicator, SimpleCommunicator};
    use mpi::Count;

    pub(super) struct Comms {
        world: SimpleCommunicator,
        node: SimpleCommunicator,
    }

    impl Comms {
        /// `None` when MPI is not in use (or already finalised).
        pub(super) fn new() -> Option<Comms> {
            if !crate::mpi::usable_now() {
                return None;
            }
            let world = private_world();
            // Keyed by world rank: the host's lowest world rank is its leader, so world rank
            // 0 leads its host.
            let node = world.split_shared(world.rank());
            Some(Comms { world, node })
        }

        pub(super) fn local_rank(&self) -> u32 {
            self.node.rank() as u32
        }

        pub(super) fn local_size(&self) -> u32 {
            self.node.size() as u32
        }

        pub(super) fn world_rank(&self) -> u32 {
            self.world.rank() as u32
        }

        pub(super) fn world_size(&self) -> u32 {
            self.world.size() as u32
        }

        pub(super) fn node_barrier(&self) {
            wait(self.node.immediate_barrier());
        }

        pub(super) fn node_max(&self, value: u64) -> u64 {
            reduce(&self.node, value, SystemOperation::max())
        }

        pub(super) fn node_sum(&self, value: u64) -> u64 {
            reduce(&self.node, value, SystemOperation::sum())
        }

        pub(super) fn world_min(&self, value: u64) -> u64 {
            reduce(&self.world, value, SystemOperation::min())
        }

        /// Everyone's bytes on rank 0 of the node (`on_node`) or of the world.
        pub(super) fn gather(&self, on_node: bool, mut bytes: Vec<u8>) -> Option<Vec<Vec<u8>>> {
            let comm = if on_node { &self.node } else { &self.world };
            // Never an empty buffer: its dangling pointer (address 1) is Open MPI's
            // MPI_IN_PLACE, which a non-root rank may not pass. One leading byte, dropped below.
            bytes.insert(0, 0);
            let root = comm.process_at_rank(0);
            let len = bytes.len() as Count;
            if comm.rank() != 0 {
                mpi::request::scope(|scope| wait(root.immediate_gather_into(scope, &len)));
                root.gather_varcount_into(&bytes[..]);
                return None;
            }
            let mut counts = vec![0 as Count; comm.size() as usize];
            mpi::request::scope(|scope| {
                wait(root.immediate_gather_into_root(scope, &len, &mut counts[..]))
            });
            let displs: Vec<Count> = counts
                .iter()
                .scan(0, |at, &c| {
                    let d = *at;
                    *at += c;
                    Some(d)
                })
                .collect();
            let mut all = vec![0u8; counts.iter().map(|&c| c as usize).sum()];
            {
                let mut part = PartitionMut::new(&mut all[..], &counts[..], &displs[..]);
                root.gather_varcount_into_root(&bytes[..], &mut part);
            }
            Some(
                counts
                    .iter()
                    .zip(&displs)
                    .map(|(&c, &d)| all[d as usize + 1..(d + c) as usize].to_vec())
                    .collect(),
            )
        }

        pub(super) fn broadcast(&self, mut bytes: Vec<u8>) -> Vec<u8> {
            let root = self.world.process_at_rank(0);
            let mut len = bytes.len() as u64;
            mpi::request::scope(|scope| wait(root.immediate_broadcast_into(scope, &mut len)));
            bytes.resize(len as usize, 0);
            mpi::request::scope(|scope| wait(root.immediate_broadcast_into(scope, &mut bytes[..])));
            bytes
        }
    }

    fn reduce(comm: &SimpleCommunicator, value: u64, op: SystemOperation) -> u64 {
        let mut out = 0u64;
        mpi::request::scope(|scope| {
            wait(comm.immediate_all_reduce_into(scope, &value, &mut out, op))
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A test process is not under a launcher: a host of one, every call immediate.
    #[test]
    fn alone_is_a_host_of_one() {
        let n = Node::join();
        assert!(n.is_leader() && n.is_root());
        assert_eq!((n.local_size, n.world_size), (1, 1));
        n.barrier();
        assert_eq!(n.max(7), 7);
        assert_eq!(n.sum(7), 7);
        assert!(n.everyone(true) && !n.everyone(false));
        assert_eq!(n.gather_on_leader(vec![1, 2]), Some(vec![vec![1, 2]]));
        assert_eq!(n.gather_leaders_on_root(Some(vec![3])), Some(vec![vec![3]]));
        assert_eq!(n.broadcast_from_root(vec![4]), vec![4]);
    }
}
