/* An MPI job for Loom's integration tests: every rank contributes rank+1; all must agree on the
 * sum n(n+1)/2. Each rank writes what it saw to allreduce.<rank> in the working directory. */
#include <mpi.h>
#include <stdio.h>

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  long mine = rank + 1, sum = 0;
  MPI_Allreduce(&mine, &sum, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
  char host[MPI_MAX_PROCESSOR_NAME];
  int len = 0;
  MPI_Get_processor_name(host, &len);
  char path[64];
  snprintf(path, sizeof(path), "allreduce.%d", rank);
  FILE* f = fopen(path, "w");
  if (f) {
    fprintf(f, "%d %d %ld\n", rank, size, sum);
    fclose(f);
  }
  printf("rank %d of %d: sum %ld (expected %ld)\n", rank, size, sum, (long)size * (size + 1) / 2);
  MPI_Finalize();
  return sum == (long)size * (size + 1) / 2 ? 0 : 1;
}
