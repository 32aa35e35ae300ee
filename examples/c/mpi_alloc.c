/* An MPI program that knows nothing of rankscope: each rank holds (rank + 1) * 16 MiB and
 * computes for a while, with a barrier between phases. Under rankscope-run its CPU and memory
 * are sampled from outside, per rank, into snapshots that `rankscope merge` combines.
 *
 *   mpicc -O2 -o mpi_alloc examples/c/mpi_alloc.c
 *   mpirun -n 4 scripts/rankscope-run -- ./mpi_alloc [SECONDS]        (default 1 s per phase)
 *
 * With a file name as second argument, each rank creates <file>.<rank> once it holds its
 * memory (tests wait for it before signalling the job).
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Busy arithmetic over the block for `seconds`. */
static double compute(volatile double *block, size_t n, double seconds) {
    double sum = 0, until = now() + seconds;
    while (now() < until)
        for (size_t i = 0; i < n; i += 512) sum += block[i] * 1.000001;
    return sum;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    size_t n = (size_t)(rank + 1) * (16u << 20) / sizeof(double);
    double *block = malloc(n * sizeof(double));
    if (!block) MPI_Abort(MPI_COMM_WORLD, 1);
    for (size_t i = 0; i < n; i++) block[i] = 1.0; /* touched: resident */
    if (argc > 2) {
        char name[4096];
        snprintf(name, sizeof name, "%s.%d", argv[2], rank);
        FILE *f = fopen(name, "w");
        if (f) fclose(f);
    }
    double sum = compute(block, n, seconds);
    MPI_Barrier(MPI_COMM_WORLD);
    sum += compute(block, n / 2, seconds);
    double total = 0;
    MPI_Reduce(&sum, &total, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
    if (rank == 0) printf("mpi_alloc: %d ranks, checksum %g\n", size, total);
    free(block);
    MPI_Finalize();
    return 0;
}
