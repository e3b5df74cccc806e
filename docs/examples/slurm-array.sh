#!/usr/bin/env bash
# Runs a grid as a Slurm array job: task i of N runs shard i/N (the protocol's grid by default).
# Submit:  mkdir -p logs && sbatch --array=1-16 docs/examples/slurm-array.sh
# Another preset, more options for every shard, the data elsewhere (the environment is passed on):
#          PRESET=quick OPTIONS="--epochs 1 --checkpoint-every 20" sbatch --array=1-3 docs/examples/slurm-array.sh
#          DATA_DIR=/shared/fashion-mnist sbatch --array=1-16 docs/examples/slurm-array.sh
# Rerun some tasks of that array (N must stay 16):
#          sbatch --array=5,9 --export=ALL,SHARDS=16 docs/examples/slurm-array.sh
# Merge:   npx asymprop report results/protocol/results.shard-*.jsonl --out results/protocol
#SBATCH --job-name=asymprop
#SBATCH --cpus-per-task=2
#SBATCH --mem=2G
#SBATCH --time=12:00:00
#SBATCH --output=logs/asymprop-%A_%a.out
set -euo pipefail
SHARDS=${SHARDS:-${SLURM_ARRAY_TASK_COUNT:?run as an array job}}
PRESET=${PRESET:-protocol}
OUT=${OUT:-results/$PRESET}
read -ra options <<< "${OPTIONS:-}"           # OPTIONS split into words, never into file names
# --resume makes a requeued or restarted task continue its own shard instead of starting over.
# The log lists each run as it finishes. npx --no: the asymprop installed here, never a download.
npx --no asymprop reproduce --preset "$PRESET" ${DATA_DIR:+--data-dir "$DATA_DIR"} \
  --out "$OUT" --shard "${SLURM_ARRAY_TASK_ID}/${SHARDS}" --resume \
  --workers "${SLURM_CPUS_PER_TASK:-2}" "${options[@]}"
