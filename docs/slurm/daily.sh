#!/bin/bash
# The daily run as a Slurm job array: task i of N runs `avarisk run daily --shard i/N` on its share of the sites.
#   sbatch --array=0-7 docs/slurm/daily.sh            # today
#   sbatch --array=0-7 docs/slurm/daily.sh --from 2020-12-01 --to 2021-04-30   # a backfill
# Outputs and the per-shard ledgers (<root>/ledger.shard-i-of-N.sqlite) live on the cluster's shared file system.
#SBATCH --job-name=avarisk-daily
#SBATCH --cpus-per-task=4
#SBATCH --mem=8G
#SBATCH --time=02:00:00
#SBATCH --signal=TERM@300           # SIGTERM 5 minutes before the time limit: stop at the next unit boundary
#SBATCH --output=logs/avarisk-%A_%a.jsonl
set -euo pipefail

: "${AVARISK_PROJECT:=$HOME/avarisk}"
: "${AVARISK_ROOT:=/shared/avarisk/out}"
export AVARISK_PROJECT AVARISK_ROOT
shards=${SLURM_ARRAY_TASK_COUNT:?submit as an array: sbatch --array=0-N}
index=${SLURM_ARRAY_TASK_ID:?}

# Exit codes: 0 done, 1 some sites failed (the rest are published), 2 configuration error, 75 this shard is already
# running (e.g. yesterday's job overran), 130 stopped by the signal above. `sacct` shows them per task.
exec avarisk --log-format json run daily --jobs "${SLURM_CPUS_PER_TASK:-1}" --shard "${index}/${shards}" "$@"
