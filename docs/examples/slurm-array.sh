#!/usr/bin/env bash
# Runs the protocol's grid as a Slurm array job: task i of N runs shard i/N of the grid.
# Submit:  mkdir -p logs && sbatch --array=1-16 docs/examples/slurm-array.sh
# Rerun some tasks of that array (N must stay 16):
#          sbatch --array=5,9 --export=ALL,SHARDS=16 docs/examples/slurm-array.sh
# Merge:   npx asymprop report results/protocol/results.shard-*.jsonl --out results/protocol
#SBATCH --job-name=asymprop-protocol
#SBATCH --cpus-per-task=2
#SBATCH --mem=2G
#SBATCH --time=12:00:00
#SBATCH --output=logs/asymprop-%A_%a.out
set -euo pipefail
SHARDS=${SHARDS:-${SLURM_ARRAY_TASK_COUNT:?run as an array job}}
# --resume makes a requeued or restarted task continue its own shard instead of starting over.
# The log lists each run as it finishes.
npx asymprop reproduce --preset protocol \
  --data-dir "${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}" \
  --out results/protocol --shard "${SLURM_ARRAY_TASK_ID}/${SHARDS}" --resume \
  --workers "${SLURM_CPUS_PER_TASK:-2}"
