#!/bin/bash
# A spequlos sweep as a Slurm job array: each array task runs one disjoint shard.
#   sbatch --array=1-8 experiments/slurm/sweep-array.sh experiments/hpdc12.toml results
# then, once every task has finished:
#   spequlos merge results/merged results/shard-*
# and `spequlos report results/merged` (built with --features report).
#SBATCH --job-name=spequlos-sweep
#SBATCH --cpus-per-task=2
#SBATCH --time=02:00:00
#SBATCH --output=spequlos-%A_%a.log
set -euo pipefail
SPEC=${1:?usage: sweep-array.sh SPEC.toml OUTDIR}
OUT=${2:?usage: sweep-array.sh SPEC.toml OUTDIR}
SPEQULOS=${SPEQULOS:-spequlos}
N=${SLURM_ARRAY_TASK_COUNT:?run me with sbatch --array=1-N}
K=${SLURM_ARRAY_TASK_ID:?run me with sbatch --array=1-N}
mkdir -p "$OUT"
# --resume makes a requeued task continue where it stopped.
exec "$SPEQULOS" --quiet sweep "$SPEC" --out "$OUT/shard-$K" --shard "$K/$N" \
    --jobs "${SLURM_CPUS_PER_TASK:-1}" --resume
