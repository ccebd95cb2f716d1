#!/usr/bin/env bash
# Tests the dist tarball (`make test-dist`, and the last step of `make test`): builds it with scripts/dist.sh,
# unpacks it into a clean temporary directory and, with an empty environment (`env -i PATH=/usr/bin:/bin`: no venv on
# PATH, no LD_LIBRARY_PATH) and the torch venv hidden under an empty tmpfs where the kernel allows a private mount
# namespace (`unshare -m`; the real venv is never touched), checks that
#   - ldd resolves every library of the unpacked binary into its own lib/ or the system's directories, none into the venv;
#   - `avarisk info` and `avarisk validate` run, and (LD_DEBUG=libs) load no library from outside those directories;
#   - the demo's daily stage (`run daily --date 2021-02-15 --offline`) publishes western Tyrol's map set from the
#     unpacked project directory, on a store holding the site's onboarded outputs, and that map is the same, pixel for
#     pixel, as the one the venv-linked build in target/ makes from the same store.
# The store: the onboarded outputs of `make demo` under $DEMO_ROOT (default out/: bundle, terrain, records, hazard of
# tyrol-west) when they exist, else a quick onboarding with the unpacked binary itself (tyrol-west as its own source
# site, 1 training epoch: ~30 s on 2 cores). DIST_TEST_ONBOARD=1 forces the onboarding. KEEP=1 keeps the temp dir.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/onboarded-store.sh
t0=$SECONDS
site=tyrol-west        # the smallest bundled site with a model (avawog has none, so its daily run predicts nothing)
date=2021-02-15
demo_root="${DEMO_ROOT:-out}"
profile="${PROFILE:-debug}"
venv="${AVARISK_TORCH_VENV:-$HOME/.cache/avarisk/torch-2.11.0}"
venv="$(readlink -f "$venv" 2>/dev/null || echo "$venv")"

fail() { echo "dist-test: FAIL: $*" >&2; exit 1; }
tmp="$(mktemp -d "${TMPDIR:-/tmp}/avarisk-dist-test.XXXXXX")"
tmp="$(readlink -f "$tmp")"
trap 'rc=$?; if [ $rc -eq 0 ] && [ "${KEEP:-0}" != 1 ]; then rm -rf "$tmp"; elif [ $rc -ne 0 ]; then echo "dist-test: kept $tmp" >&2; fi' EXIT

echo "dist-test: building the dist tree and tarball (PROFILE=$profile)"
PROFILE="$profile" DIST_VARIANT=cpu scripts/dist.sh
tarball="$(ls "${DIST_DIR:-dist}"/avarisk-*-linux-"$(uname -m)".tar.gz)"
tar -C "$tmp" -xzf "$tarball"
tree="$(echo "$tmp"/avarisk-*-linux-*)"
bin="$tree/bin/avarisk"
project="$tree/share/avarisk"
[ -x "$bin" ] && [ -d "$project/sites" ] && [ -d "$project/pipelines" ] || fail "$tarball lacks bin/avarisk or share/avarisk"
mkdir -p "$tmp/home"

# Hide the venv in a private mount namespace when possible; otherwise the empty environment and the checks of what
# is loaded have to do.
hide=0
if [ -d "$venv" ] && unshare -m -- sh -c 'mount -t tmpfs -o size=1m avarisk-venv-hidden "$1"' sh "$venv" 2>/dev/null; then
  hide=1
fi
clean() {  # run "$@" with an empty environment, the venv hidden when possible
  if [ $hide = 1 ]; then
    unshare -m -- sh -c 'mount -t tmpfs -o size=1m avarisk-venv-hidden "$1" && ! [ -e "$1/bin" ] && shift && exec "$@"' \
      sh "$venv" env -i PATH=/usr/bin:/bin HOME="$tmp/home" LANG=C.UTF-8 "$@"
  else
    env -i PATH=/usr/bin:/bin HOME="$tmp/home" LANG=C.UTF-8 "$@"
  fi
}
echo "dist-test: venv $venv $([ $hide = 1 ] && echo 'hidden under an empty tmpfs (unshare -m)' || echo 'not hidden: unshare -m is not allowed here; relying on env -i and the checks of what is loaded')"

# Every path a library comes from must be in the unpacked tree or the system's directories.
check_paths() {  # $1: what, stdin: paths
  local bad
  bad="$(while read -r p; do
    [ -n "$p" ] || continue
    p="$(readlink -f "$p")"
    case "$p" in "$tree"/lib/*|/lib/*|/usr/lib/*|/lib64/*|/usr/lib64/*) ;; *) echo "$p" ;; esac
  done)"
  [ -z "$bad" ] || fail "$1 from outside the tree and the system: $bad"
}
ldd_out="$(clean ldd "$bin")"
! grep -q 'not found' <<<"$ldd_out" || fail "ldd: $(grep 'not found' <<<"$ldd_out")"
! grep -qF "$venv" <<<"$ldd_out" || fail "ldd resolves into the venv: $(grep -F "$venv" <<<"$ldd_out")"
awk '$2 == "=>" { print $3 }' <<<"$ldd_out" | check_paths "ldd: libraries"
grep -q "$tree/bin/../lib/libtorch_cpu.so" <<<"$ldd_out" || fail "libtorch_cpu.so does not come from the tree's lib/"

info="$(cd "$project" && clean env LD_DEBUG=libs LD_DEBUG_OUTPUT="$tmp/ld-debug" "$bin" info)"
echo "$info" | sed 's/^/  /'
grep -q '^gdal ' <<<"$info" && grep -q 'libtorch device Cpu' <<<"$info" || fail "avarisk info: unexpected output"
cat "$tmp"/ld-debug.* | sed -n 's/.*calling init: //p' | check_paths "LD_DEBUG=libs: loaded libraries"
echo "dist-test: info ok, $(cat "$tmp"/ld-debug.* | grep -c 'calling init:') libraries loaded, none from the venv"
(cd "$project" && clean "$bin" validate) || fail "avarisk validate in $project"

# A store holding the site's onboarded outputs.
store="$tmp/onboarded"
if [ "${DIST_TEST_ONBOARD:-0}" != 1 ] && has_onboarded "$demo_root" "$site"; then
  echo "dist-test: store: $site's onboarded outputs from $demo_root (bundle, terrain, records, hazard)"
  copy_onboarded "$demo_root" "$site" "$store"
else
  # A throwaway copy of the project in which the site is its own source (no Swiss pretraining: 7 min at 10 epochs)
  # and trains 1 epoch: the bundle is a stand-in, the daily run below uses the unpacked project unchanged.
  echo "dist-test: store: onboarding $site with the unpacked binary (own records, 1 epoch; ~30 s)"
  cp -a "$project" "$tmp/project-quick"
  sed -i 's/^epochs = .*/epochs = 1/' "$tmp/project-quick/pipelines/onboard.toml"
  sed -i '/^from = /d; /^mode = /d' "$tmp/project-quick/sites/$site/site.toml"
  clean "$bin" --project "$tmp/project-quick" --root "$store" run onboard --sites "$site" 2>"$tmp/onboard.log" \
    || { tail -n 30 "$tmp/onboard.log" >&2; fail "onboarding with the unpacked binary"; }
fi
cp -a "$store" "$tmp/out-dist"
cp -a "$store" "$tmp/out-ref"

echo "dist-test: the daily stage for $date (offline) from $project"
t1=$SECONDS
(cd "$project" && clean "$bin" --root "$tmp/out-dist" run daily --date "$date" --offline --sites "$site" 2>"$tmp/daily.log") \
  || { tail -n 30 "$tmp/daily.log" >&2; fail "the daily run with the unpacked binary"; }
echo "dist-test: daily run ok in $((SECONDS - t1)) s"
pub="$tmp/out-dist/published/$site/$date"
for f in risk_probability.tif danger_class.tif zones.geojson quicklook.png item.json; do
  [ -s "$pub/$f" ] || fail "$pub/$f was not published"
done

# The same daily run with the venv-linked build: the maps must agree pixel for pixel.
ref_bin="target/$profile/avarisk"
"$ref_bin" --project . --root "$tmp/out-ref" run daily --date "$date" --offline --sites "$site" >"$tmp/daily-ref.log" 2>&1 \
  || { tail -n 30 "$tmp/daily-ref.log" >&2; fail "the daily run with $ref_bin"; }
for f in risk_probability.tif danger_class.tif; do
  a="$(gdalinfo -checksum "$pub/$f" | grep -o 'Checksum=[0-9]*')"
  b="$(gdalinfo -checksum "$tmp/out-ref/published/$site/$date/$f" | grep -o 'Checksum=[0-9]*')"
  [ -n "$a" ] && [ "$a" = "$b" ] || fail "$f differs from $ref_bin's: $a against $b"
done
echo "dist-test: the unpacked binary's map equals $ref_bin's (gdalinfo -checksum)"
echo "dist-test: ok in $((SECONDS - t0)) s ($(du -sh "$tree" | cut -f1) unpacked from $(du -h "$tarball" | cut -f1))"
