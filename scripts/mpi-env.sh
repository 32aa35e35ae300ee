# Sourced by the scripts: lets Open MPI run as root and oversubscribe the 2 cores of these
# machines, and keeps it on shared memory and TCP (no InfiniBand probing warnings).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_pml=${OMPI_MCA_pml:-ob1} OMPI_MCA_btl=${OMPI_MCA_btl:-self,vader,tcp}
