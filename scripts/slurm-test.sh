#!/usr/bin/env bash
# A real Slurm test of docs/slurm/daily.sh (issue 14): brings up a one-node Slurm cluster (slurmctld, slurmd, munged)
# on this machine, in a temporary directory, and runs the daily pipeline through it as a job array.
#
#   scripts/slurm-test.sh                 # or: make test-slurm (also run by make test, after the cargo tests)
#
# What it checks, over the bundled sites and two days (AVARISK_SLURM_FROM..AVARISK_SLURM_TO, 2021-02-14..15, offline):
#   1. one task  (`sbatch --array=0-0`, i.e. --shard 0/1): the reference output, and its wall time;
#   2. two tasks (`sbatch --array=0-1`): every task COMPLETED with exit code 0, every unit `done` across the shard
#      ledgers (`avarisk status --json`), no unit in two shards, both tasks got sites, every site with a model published
#      for both days, and the output identical to the one task's (see "identical" below); its wall time;
#   3. cancellation: the same array into a fresh root, `scancel` once a task has finished its first unit, then the same
#      sbatch command again; the ledgers must end all `done` and the output identical to the one task's.
#   "Identical": byte for byte (cmp) for risk_probability.tif, danger_class.tif, zones.geojson, quicklook.png,
#   collection.json, season.* and the `latest` link, plus `gdalinfo -checksum` of the rasters; item.json and
#   alert.cap.xml after removing the time they were written (STAC `created`, the CAP `sent` and the `sent` inside
#   `references` and the item's `avarisk:alert`): the only fields that differ between two runs of the same inputs.
# It ends with the wall times of the one task and of the two-task array.
#
# Needs: the avarisk binary (AVARISK_BIN, default target/debug/avarisk; build it first: `cargo build --locked`) and
# Debian's slurm-wlm and munge, which it installs when missing (apt-get, sudo when not root). Without apt or network it
# prints `slurm test skipped: <reason>` and exits 0.
#
# The daily pipeline reads each site's onboarded models. They are trained for one epoch only (the test checks the
# array, not the maps' skill; ~3 minutes on 2 cores), once, into a cache root (AVARISK_SLURM_CACHE, default ~/.cache/avarisk/slurm-test) that later runs reuse:
# `avarisk run onboard` there skips every unit whose inputs (site files, pipeline parameters) did not change. It does
# not notice a changed avarisk binary: AVARISK_SLURM_FRESH=1 onboards from scratch. AVARISK_SLURM_ONBOARDED=out uses an
# onboarded root you have (e.g. after `make demo`) as is. Each test root gets hard links (or a copy, across file
# systems) of the store's `bundles/` and `sites/`: safe, since avarisk replaces files by renaming, never in place.
#
# AVARISK_SLURM_CANCEL=kill kills the job's avarisk processes with SIGKILL (a crash mid-unit) instead of scancel's
# SIGTERM (avarisk then stops at the next unit boundary). AVARISK_SLURM_KEEP=1 keeps the temporary directory (kept
# anyway on failure). AVARISK_SLURM_PORT (default 16817; slurmd gets the next one) keeps clear of a system Slurm on
# 6817/6818. AVARISK_SLURM_TIMEOUT: seconds a job may take (default 900).
set -euo pipefail

project=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
from=${AVARISK_SLURM_FROM:-2021-02-14}
to=${AVARISK_SLURM_TO:-2021-02-15}
port=${AVARISK_SLURM_PORT:-16817}
job_timeout=${AVARISK_SLURM_TIMEOUT:-900}
t_start=$(date +%s)

say() { printf 'slurm-test: %s\n' "$*"; }
fail() { printf 'slurm-test: FAILED: %s\n' "$*" >&2; exit 1; }
skip() { printf 'slurm test skipped: %s\n' "$*"; exit 0; }

# --- 1. Slurm and munge ----------------------------------------------------------------------------------------------
need=(sbatch squeue scancel scontrol sinfo slurmctld slurmd munged munge jq)
have_all() { local c; for c in "${need[@]}"; do command -v "$c" >/dev/null 2>&1 || return 1; done; }
if ! have_all; then
  command -v apt-get >/dev/null 2>&1 || skip "slurm-wlm/munge missing and no apt-get to install them"
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || skip "slurm-wlm/munge missing, not root and no sudo"
    sudo_cmd=(sudo)
  fi
  say "installing Debian packages slurm-wlm munge jq"
  # The packages' postinst scripts try to start the system services; in a container without systemd they are refused
  # (policy-rc.d) or fail harmlessly: this script starts its own daemons with their own files.
  if ! { "${sudo_cmd[@]}" apt-get update -qq &&
         "${sudo_cmd[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends slurm-wlm munge jq \
           >/dev/null; }; then
    skip "apt-get could not install slurm-wlm and munge (no network or no package source?)"
  fi
  have_all || skip "slurm-wlm and munge installed, but ${need[*]} are not all on PATH"
fi
command -v gdalinfo >/dev/null 2>&1 || fail "gdalinfo missing: run scripts/setup.sh (make setup)"

# --- the avarisk binary, copied so that a rebuild while the jobs run does not change it under them -------------------
bin=${AVARISK_BIN:-$project/target/debug/avarisk}
[ -x "$bin" ] || bin=$(command -v avarisk || true)
if [ -z "$bin" ] || [ ! -x "$bin" ]; then fail "no avarisk binary: build it (cargo build --locked) or set AVARISK_BIN"; fi

# The temporary directory holds the cluster (config, state, logs), the test roots and the job logs. munged wants the
# directories above its socket searchable by all (0755); its key stays in a 0700 directory.
work=$(mktemp -d "${TMPDIR:-/tmp}/avarisk-slurm.XXXXXX")
chmod 755 "$work"
mkdir -p "$work/bin" "$work/logs"
cp "$bin" "$work/bin/avarisk"
export PATH="$work/bin:$PATH"
say "work dir $work, avarisk $(avarisk --version 2>/dev/null | head -1) from $bin"

# --- stop everything this script started, whatever happens ----------------------------------------------------------
cleanup() {
  local rc=$? i
  set +e
  if [ -f "$work/slurm.conf" ]; then
    # Our cluster runs only our jobs: cancel them all, wait until they are gone (SIGKILL follows SIGTERM after
    # KillWait=30 s), then stop slurmctld and slurmd.
    squeue -h -o %A 2>/dev/null | sort -u | xargs -r scancel 2>/dev/null
    for i in $(seq 1 40); do [ -z "$(squeue -h -o %A 2>/dev/null)" ] && break; sleep 1; done
    scontrol shutdown >/dev/null 2>&1
  fi
  local f pid
  for f in slurmd slurmctld munged; do
    [ -f "$work/run/$f.pid" ] || continue
    pid=$(cat "$work/run/$f.pid" 2>/dev/null)
    [ -n "$pid" ] || continue
    [ "$f" = munged ] && munged --stop --socket="$work/run/munge.socket" >/dev/null 2>&1
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && { kill "$pid" 2>/dev/null; sleep 1; kill -9 "$pid" 2>/dev/null; }
  done
  if [ "$rc" -eq 0 ] && [ "${AVARISK_SLURM_KEEP:-0}" != 1 ]; then
    rm -rf "$work"
  else
    echo "slurm-test: kept $work (slurm logs in $work/log, job logs in $work/logs)" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- 2. a one-node cluster -------------------------------------------------------------------------------------------
mkdir -m 700 "$work/munge"
mkdir -m 755 "$work/run"
mkdir -p "$work/state" "$work/spool" "$work/log"
dd if=/dev/urandom of="$work/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$work/munge/munge.key"
munged --key-file="$work/munge/munge.key" --socket="$work/run/munge.socket" --pid-file="$work/run/munged.pid" \
  --log-file="$work/munge/munged.log" --seed-file="$work/munge/munged.seed" ||
  fail "munged did not start: $(tail -n 3 "$work/munge/munged.log" 2>/dev/null)"
munge -S "$work/run/munge.socket" -n | unmunge -S "$work/run/munge.socket" >/dev/null || fail "munge round trip failed"

node=$(hostname -s)
cpus=$(nproc)
# RealMemory a bit below the memory available now: slurmd drains a node that reports less than configured.
mem_mb=$(awk '/^MemAvailable:/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)
user=$(id -un)
# Process tracking by /proc ancestry (proctrack/linuxproc), no task binding (task/none), no accounting gatherer: none of
# them needs cgroups, so no cgroup.conf either. The usual proctrack/cgroup + task/cgroup need cgroup hierarchies slurmd
# can create and own; in a container they are the runtime's (here cgroup v1, no systemd as PID 1) and the batch step
# dies at start ("cgroup namespace 'freezer' not mounted"), the node drains ("batch job complete failure") and the job
# never runs. The price of linuxproc/none: Slurm neither confines a task's CPUs nor enforces --mem on this cluster.
cat >"$work/slurm.conf" <<EOF
# Generated by scripts/slurm-test.sh: a throwaway one-node cluster.
ClusterName=avarisk-test
SlurmctldHost=$node
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$work/run/munge.socket
SlurmUser=$user
SlurmdUser=$user
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/run/slurmctld.pid
SlurmdPidFile=$work/run/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
ReturnToService=2
# Keep finished jobs visible to scontrol for an hour (their state and exit code; there is no accounting database).
MinJobAge=3600
# SIGTERM, then SIGKILL after KillWait seconds: avarisk stops at its next unit boundary on SIGTERM.
KillWait=30
NodeName=$node CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=avarisk Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$work/slurm.conf"
slurmctld -f "$SLURM_CONF" || fail "slurmctld did not start: $(tail -n 5 "$work/log/slurmctld.log" 2>/dev/null)"
slurmd -f "$SLURM_CONF" || fail "slurmd did not start: $(tail -n 5 "$work/log/slurmd.log" 2>/dev/null)"
for i in $(seq 1 60); do
  state=$(sinfo -h -n "$node" -o %T 2>/dev/null || true)
  [ "$state" = idle ] && break
  sleep 1
done
[ "$state" = idle ] || fail "node $node not idle after 60 s (state: ${state:-none}); see $work/log"
say "cluster up: node $node, $cpus CPUs, ${mem_mb} MB, slurmctld port $port"

# --- 3. the onboarded store ------------------------------------------------------------------------------------------
if [ -n "${AVARISK_SLURM_ONBOARDED:-}" ]; then
  store=$(cd "$AVARISK_SLURM_ONBOARDED" && pwd)
  if [ ! -d "$store/bundles" ] || [ ! -d "$store/sites" ]; then fail "$store: no bundles/ and sites/ (onboard it first)"; fi
  say "onboarded store: $store (AVARISK_SLURM_ONBOARDED)"
else
  cache=${AVARISK_SLURM_CACHE:-$HOME/.cache/avarisk/slurm-test}
  [ "${AVARISK_SLURM_FRESH:-0}" = 1 ] && rm -rf "$cache/root"
  mkdir -p "$cache"
  store="$cache/root"
  say "onboarding into $store, 1 epoch (skips what is done: ~3 minutes the first time, seconds after)"
  t0=$(date +%s)
  built=$(sha256sum "$work/bin/avarisk" | cut -c1-16)
  first=0
  [ -f "$store/ledger.sqlite" ] || first=1
  # One training epoch (a copy of the project with `epochs = 1` in pipelines/onboard.toml): the test is about the array,
  # the ledgers and the resubmission, not the models' skill, and a full onboarding would double the test's time in CI.
  quick="$work/project-quick"
  cp -a "$project/sites" "$project/pipelines" --target-directory="$(mkdir -p "$quick" && echo "$quick")"
  sed -i 's/^epochs = .*/epochs = 1/' "$quick/pipelines/onboard.toml"
  (cd "$quick" && avarisk --project "$quick" --root "$store" run onboard --wait >"$work/logs/onboard.log" 2>&1) ||
    fail "onboarding failed, see $work/logs/onboard.log"
  say "onboarding: $(($(date +%s) - t0)) s"
  # The ledger reruns units whose inputs changed, not those whose code did: say when another build made the models.
  if [ "$first" = 1 ]; then
    echo "$built" >"$cache/onboarded-by"
  elif [ "$(cat "$cache/onboarded-by" 2>/dev/null)" != "$built" ]; then
    say "note: the cached models come from another avarisk build; AVARISK_SLURM_FRESH=1 onboards with this one"
  fi
fi

# A fresh output root holding the onboarded store's models, terrain and records (hard links where possible).
seed_root() {
  local dst=$1 d
  mkdir -p "$dst"
  for d in bundles sites; do
    cp -al "$store/$d" "$dst/$d" 2>/dev/null || { rm -rf "${dst:?}/$d"; cp -a "$store/$d" "$dst/$d"; }
  done
  # What a daily run derives (in case the store has run it): removed here so every root starts alike.
  rm -rf "$dst"/sites/*/predictions "$dst"/sites/*/weather/features
}

# --- Slurm helpers ---------------------------------------------------------------------------------------------------
# submit NAME ROOT ARRAY: docs/slurm/daily.sh as an array over the two days; prints the job id.
submit() {
  local name=$1 root=$2 array=$3
  (cd "$project" && AVARISK_PROJECT="$project" AVARISK_ROOT="$root" \
    sbatch --parsable --job-name="$name" --array="$array" --cpus-per-task=1 --mem=2G \
      --output="$work/logs/$name-%A_%a.jsonl" docs/slurm/daily.sh --from "$from" --to "$to" --offline)
}
# Ids of the job's array tasks still pending or running.
active() { squeue -h -j "$1" -o %i 2>/dev/null || true; }
wait_job() {
  local jid=$1 waited=0
  while [ -n "$(active "$jid")" ]; do
    sleep 1
    waited=$((waited + 1))
    [ "$waited" -lt "$job_timeout" ] || fail "job $jid still running after $job_timeout s"
  done
}
# "task state exit_code" per array task (scontrol keeps finished jobs for MinJobAge).
task_states() {
  scontrol -o show job "$1" | awk '{
      t = "-"; s = "-"; e = "-"
      for (i = 1; i <= NF; i++) {
        if ($i ~ /^ArrayTaskId=/) t = substr($i, 13)
        if ($i ~ /^JobState=/) s = substr($i, 10)
        if ($i ~ /^ExitCode=/) e = substr($i, 10)
      }
      print t, s, e }' | sort -n
}
expect_completed() {
  local jid=$1 n=$2 states
  states=$(task_states "$jid")
  [ "$(grep -c ' COMPLETED 0:0$' <<<"$states")" -eq "$n" ] ||
    fail "job $jid: expected $n tasks COMPLETED with exit code 0, got: $(tr '\n' ';' <<<"$states"); logs in $work/logs"
}
# How long each array task ran, from slurmctld's StartTime and EndTime (whole seconds): "task 0 15 s, task 1 56 s".
task_times() {
  scontrol -o show job "$1" | awk '{
      for (i = 1; i <= NF; i++) {
        if ($i ~ /^ArrayTaskId=/) t = substr($i, 13)
        if ($i ~ /^StartTime=/) s = substr($i, 11)
        if ($i ~ /^EndTime=/) e = substr($i, 9)
      }
      print t, s, e }' | sort -n | while read -r t s e; do
    echo "task $t $(($(date -d "$e" +%s) - $(date -d "$s" +%s))) s"
  done | paste -sd, - | sed 's/,/, /g'
}
# run_array NAME ROOT ARRAY N: submit, wait, check every task completed; prints the wall time in seconds (submission
# to the last task's end) and the job id.
run_array() {
  local t0 jid
  t0=$(date +%s.%N)
  jid=$(submit "$1" "$2" "$3")
  wait_job "$jid"
  expect_completed "$jid" "$4"
  awk -v a="$t0" -v b="$(date +%s.%N)" -v j="$jid" 'BEGIN { printf "%.1f %s\n", b - a, j }'
}

# --- what the runs must produce --------------------------------------------------------------------------------------
sites=()
model_sites=()
for f in "$project"/sites/*/site.toml; do
  s=$(basename "$(dirname "$f")")
  sites+=("$s")
  grep -q '^\[model\]' "$f" && model_sites+=("$s")
done
stages=$(grep -c '^stage *=' "$project/pipelines/daily.toml")
dates=()
d=$from
while [[ ! "$d" > "$to" ]]; do dates+=("$d"); d=$(date -u -d "$d + 1 day" +%F); done
[ ${#model_sites[@]} -gt 0 ] || fail "no site with [model] under $project/sites"
say "sites: ${sites[*]} (published: ${model_sites[*]}); dates: ${dates[*]}; $stages daily stages"

# check_root ROOT SHARDS: the ledgers and the published maps of a finished run.
check_root() {
  local root=$1 shards=$2 rows n s dt f i
  rows=$(cd "$project" && avarisk --root "$root" status --pipeline daily --json) || fail "avarisk status failed on $root"
  n=$(jq -s 'length' <<<"$rows")
  [ "$n" -eq $((${#sites[@]} * ${#dates[@]} * stages)) ] ||
    fail "$root: $n daily units in the ledgers, expected ${#sites[@]} sites x ${#dates[@]} days x $stages stages"
  n=$(jq -s '[.[] | select(.status != "done")] | length' <<<"$rows")
  [ "$n" -eq 0 ] || fail "$root: $n units not done: $(jq -c 'select(.status != "done") | [.site, .date, .stage, .status, .error]' <<<"$rows")"
  # Every unit once, in one ledger: no unit ran in two shards.
  n=$(jq -s '[.[] | [.stage, .site, .date]] | (length - (unique | length))' <<<"$rows")
  [ "$n" -eq 0 ] || fail "$root: $n units recorded in more than one ledger"
  if [ "$shards" -gt 1 ]; then
    for ((i = 0; i < shards; i++)); do
      f="$root/ledger.shard-$i-of-$shards.sqlite"
      n=$(jq -rs --arg f "$f" '[.[] | select(.ledger == $f) | .site] | unique | join(",")' <<<"$rows")
      [ -n "$n" ] || fail "$root: task $i of $shards got no work (no units in $f)"
      say "  task $i: sites $n"
    done
  fi
  for s in "${model_sites[@]}"; do
    for dt in "${dates[@]}"; do
      for f in risk_probability.tif danger_class.tif zones.geojson quicklook.png item.json; do
        [ -s "$root/published/$s/$dt/$f" ] || fail "$root: published/$s/$dt/$f missing"
      done
      gdalinfo -checksum "$root/published/$s/$dt/risk_probability.tif" >/dev/null ||
        fail "$root: published/$s/$dt/risk_probability.tif unreadable"
    done
    [ "$(jq '[.links[] | select(.rel == "item")] | length' "$root/published/$s/collection.json")" -eq ${#dates[@]} ] ||
      fail "$root: published/$s/collection.json does not list ${#dates[@]} items"
  done
}

# Content of a published file with the write time taken out.
normalised() {
  case "$1" in
    *item.json) jq -S 'del(.properties.created, .properties."avarisk:alert".sent)' "$1" ;;
    *.cap.xml) sed -e 's#<sent>[^<]*</sent>#<sent/>#' -e 's#<references>\(.*\),[^,<]*</references>#<references>\1,</references>#' "$1" ;;
    *) cat "$1" ;;
  esac
}
# same_output REF OTHER: the published maps of two roots are the same (see the header).
same_output() {
  local ref=$1 other=$2 f rel n=0
  [ "$(cd "$ref/published" && find . | sort)" = "$(cd "$other/published" && find . | sort)" ] ||
    fail "different published files: $(diff <(cd "$ref/published" && find . | sort) <(cd "$other/published" && find . | sort) | tr '\n' ' ')"
  while IFS= read -r rel; do
    f="$ref/published/$rel"
    if [ -L "$f" ]; then
      [ "$(readlink "$f")" = "$(readlink "$other/published/$rel")" ] || fail "$rel: links differ"
    elif [ -f "$f" ]; then
      case "$rel" in
        *item.json | *.cap.xml)
          cmp -s <(normalised "$f") <(normalised "$other/published/$rel") || fail "$rel differs (beyond its write time)" ;;
        *)
          cmp -s "$f" "$other/published/$rel" || fail "$rel differs (bytes)" ;;
      esac
      case "$rel" in
        *.tif)
          [ "$(gdalinfo -checksum "$f" | grep Checksum=)" = "$(gdalinfo -checksum "$other/published/$rel" | grep Checksum=)" ] ||
            fail "$rel: pixel checksums differ" ;;
      esac
      n=$((n + 1))
    fi
  done < <(cd "$ref/published" && find . -mindepth 1 | sed 's#^\./##' | sort)
  echo "$n"
}

# --- 4. one task: the reference ---------------------------------------------------------------------------------------
seed_root "$work/one"
say "one task (--array=0-0) over ${dates[*]} ..."
out=$(run_array avarisk-one "$work/one" 0-0 1)
read -r wall_one jid_one <<<"$out"
check_root "$work/one" 1
say "one task: ${wall_one} s, every unit done, maps published"

# --- 5. two tasks ----------------------------------------------------------------------------------------------------
seed_root "$work/array"
say "two tasks (--array=0-1) ..."
out=$(run_array avarisk-array "$work/array" 0-1 2)
read -r wall_array jid_array <<<"$out"
check_root "$work/array" 2
n=$(same_output "$work/one" "$work/array")
say "two tasks: ${wall_array} s, every unit done, $n published files identical to the one task's"

# --- 6. cancelled, then submitted again -------------------------------------------------------------------------------
seed_root "$work/cancel"
cancel=${AVARISK_SLURM_CANCEL:-term}
case "$cancel" in term | kill) ;; *) fail "AVARISK_SLURM_CANCEL=$cancel: term or kill" ;; esac
say "cancellation ($cancel): two tasks, stopped once a unit is done, then the same sbatch again ..."
jid=$(submit avarisk-cancel "$work/cancel" 0-1)
done_units() {
  local rows
  # No ledger yet (exit 2) or one being written: counts as none done.
  rows=$(cd "$project" && avarisk --root "$work/cancel" status --pipeline daily --json 2>/dev/null) || rows=""
  jq -s '[.[] | select(.status == "done")] | length' <<<"$rows"
}
waited=0
until [ "$(done_units)" -ge 1 ]; do
  [ -n "$(active "$jid")" ] || fail "job $jid ended before its first unit was done; logs in $work/logs"
  sleep 0.5
  waited=$((waited + 1))
  [ "$waited" -lt $((2 * job_timeout)) ] || fail "job $jid: no unit done after $job_timeout s"
done
case "$cancel" in
  # What an operator's scancel (and the time limit, with --signal=TERM@300) does: SIGTERM, SIGKILL after KillWait.
  # avarisk finishes the units it is running and exits 130.
  term) scancel "$jid"; ended=CANCELLED ;;
  # A crash: SIGKILL to the job's avarisk processes, mid-unit; the next run marks the units it finds `running`
  # interrupted, removes their staged files and runs them again. (Not `scancel --signal=KILL`: slurmctld turns that
  # into the cancel above, SIGTERM first.) `scontrol listpids` lists the processes of the jobs on this node: ours.
  kill)
    pids=$(scontrol listpids 2>/dev/null | awk '$1 ~ /^[0-9]+$/ { print $1 }' |
      while read -r p; do if [ "$(cat "/proc/$p/comm" 2>/dev/null)" = avarisk ]; then echo "$p"; fi; done)
    [ -n "$pids" ] || fail "scontrol listpids: no avarisk process of job $jid"
    # shellcheck disable=SC2086 # one pid per word
    kill -KILL $pids
    ended=FAILED ;;
esac
wait_job "$jid"
states=$(task_states "$jid")
grep -Eq " ($ended) " <<<"$states" || fail "job $jid: no task ended $ended after the cancel: $(tr '\n' ';' <<<"$states")"
left=$((${#sites[@]} * ${#dates[@]} * stages - $(done_units)))
[ "$left" -gt 0 ] || fail "the cancelled array had finished everything: nothing left to resume"
say "  cancelled: $(tr '\n' ';' <<<"$states" | sed 's/;$//') (task, state, exit code); $left of $((${#sites[@]} * ${#dates[@]} * stages)) units left"
say "  ledgers after the cancel: $(cd "$project" && avarisk --root "$work/cancel" status --pipeline daily --json |
  jq -rs 'group_by(.status) | map("\(.[0].status) \(length)") | join(", ")')"
out=$(run_array avarisk-cancel "$work/cancel" 0-1 2)
read -r wall_resume _ <<<"$out"
check_root "$work/cancel" 2
n=$(same_output "$work/one" "$work/cancel")
say "  resubmitted: ${wall_resume} s, every unit done, $n published files identical to the uninterrupted one task's"

# --- 7. summary ------------------------------------------------------------------------------------------------------
say "wall time, ${#sites[@]} sites x ${#dates[@]} days, $cpus CPUs, submission to end:"
say "  one task        ${wall_one} s ($(task_times "$jid_one"))"
say "  two-task array  ${wall_array} s ($(task_times "$jid_array"))"
say "  resubmission after the cancel: ${wall_resume} s"
say "passed in $(($(date +%s) - t_start)) s"
