#!/usr/bin/env bash
# Installs Loom's dependencies, builds it, starts a local cluster of 3 CPU-emulated nodes with 4
# GPUs each, runs a 2-node job, an MPI job and a 2-node training job (loom-train) on it, shows
# the queue, the nodes and the output, and stops the cluster.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"

export PATH="$root/build/bin:$PATH"
export LOOM_HOME=${LOOM_HOME:-$(mktemp -d /tmp/loom-quickstart-XXXXXX)}
unset LOOM_SERVER
loom up --workers 3 --gpus-per-worker 4 > "$LOOM_HOME/up.log" 2>&1 &
up=$!
trap 'kill -INT $up 2>/dev/null; wait $up 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  grep -q "Loom is up" "$LOOM_HOME/up.log" 2>/dev/null && break
  kill -0 $up 2>/dev/null || { cat "$LOOM_HOME/up.log"; exit 1; }
  sleep 0.1
done
cat "$LOOM_HOME/up.log"
work=$(mktemp -d /tmp/loom-job-XXXXXX)
cd "$work"

echo; echo "\$ loom nodes"; loom nodes
echo; echo "\$ loom submit --gpus 8 --gpus-per-node 4 --name hello --wait -- /bin/sh -c 'echo rank \$RANK of \$WORLD_SIZE ...'"
loom submit --gpus 8 --gpus-per-node 4 --name hello --wait -- \
  /bin/sh -c 'echo "rank $RANK of $WORLD_SIZE on $LOOM_NODENAME, GPUs $CUDA_VISIBLE_DEVICES, master $MASTER_ADDR:$MASTER_PORT"'
echo; echo "\$ loom submit --mpi --gpus 8 --gpus-per-node 4 --name allreduce --wait -- mpi_allreduce"
loom submit --mpi --gpus 8 --gpus-per-node 4 --name allreduce --wait -- "$root/build/tests/mpi_allreduce"
echo; echo "\$ loom submit --mpi --gpus 2 --gpus-per-node 1 --name train --wait -- loom-train --steps 5"
loom submit --mpi --gpus 2 --gpus-per-node 1 --name train --wait -- "$root/build/bin/loom-train" --steps 5 --warmup 1
echo; echo "\$ loom queue --all"; loom queue --all
echo; echo "\$ loom nodes"; loom nodes
echo; echo "Output of job 1 (one line per rank):"
for rank in 0 1 2 3 4 5 6 7; do loom logs 1 --rank $rank; done
echo; echo "Output of job 2 (mpirun gathers every rank's output in rank 0):"
loom logs 2
echo; echo "Output of job 3, a data-parallel GPT-shaped training step on 2 emulated GPUs:"
loom logs 3
echo; echo "\$ loom show 3   # what its rank 0 reported to loomd"; loom show 3
echo; echo "\$ loom stats --since 1h"; loom stats --since 1h
