#!/bin/bash
# The daily run as a Slurm job array: task i of N runs `avarisk run daily --shard i/N` on its share of the work,
# split as SHARD_BY says (`--shard-by`): round-robin (default) deals the sites sorted by id in turn, so every task gets
# work when there are at least N sites; hash keeps a site in its shard as sites come and go (many sites); date runs
# every site on every N-th date of the range (a backfill of few sites).
#   sbatch --array=0-1 docs/slurm/daily.sh            # today
#   SHARD_BY=date sbatch --array=0-7 docs/slurm/daily.sh --from 2020-12-01 --to 2021-04-30   # a backfill, by date
# Outputs and the per-shard ledgers (<root>/ledger.shard-i-of-N.sqlite) live on the cluster's shared file system.
# Tested: scripts/slurm-test.sh (make test-slurm, part of make test) submits this script to a one-node Slurm cluster it
# starts itself, checks the shard ledgers and the maps, cancels and resubmits it; docs/operations.md walks through it.
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
shard_by=${SHARD_BY:-round-robin}

# Exit codes: 0 done, 1 some sites failed (the rest are published), 2 configuration error, 75 this shard is already
# running (e.g. yesterday's job overran), 130 stopped by the signal above. `sacct` shows them per task.
exec avarisk --log-format json run daily --jobs "${SLURM_CPUS_PER_TASK:-1}" --shard "${index}/${shards}" \
    --shard-by "${shard_by}" "$@"
