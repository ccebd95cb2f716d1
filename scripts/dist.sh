#!/usr/bin/env bash
# Builds the self-contained avarisk tree and its tarball from an already built binary (`make dist`):
#
#   dist/avarisk/bin/avarisk          the binary of target/$PROFILE, RUNPATH rewritten to $ORIGIN/../lib
#   dist/avarisk/lib/                 the libtorch libraries it loads from the torch venv (RUNPATH $ORIGIN)
#   dist/avarisk/share/avarisk/       the project: sites/ and pipelines/ (run from there, or AVARISK_PROJECT=...)
#   dist/avarisk-VERSION-linux-ARCH[-cuda].tar.gz
#
# Only libraries a Debian 12 host with GDAL's runtime package (libgdal32, which brings libstdc++ and the rest) lacks
# are bundled: whatever the binary's libraries resolve to outside /lib, /usr/lib and /lib64, i.e. into the venv.
#
# Environment:
#   PROFILE=debug|release   which target/ build to package (default debug: `make build`'s; a release build recompiles
#                           every dependency, ~26 min on 2 cores)
#   DIST_VARIANT=cpu|cuda   cpu (default): drop the NEEDED entry on libtorch_cuda.so that build.rs forces in, so none
#                           of the CUDA libraries (cuBLAS, cuDNN, NCCL...: 2.7 GB) are needed; CUDA is then never
#                           available, CPU inference and training work. cuda: keep it and bundle the whole CUDA closure
#                           (plus the libraries libtorch and cuDNN dlopen), for GPU nodes with an NVIDIA driver.
#   DIST_DIR=dist           where the tree and the tarball go
#   DIST_TARBALL=0          skip the tarball (the container build only needs the tree)
#   AVARISK_BIN=PATH        package this binary instead of target/$PROFILE/avarisk
set -euo pipefail
cd "$(dirname "$0")/.."

profile="${PROFILE:-debug}"
variant="${DIST_VARIANT:-cpu}"
dist="${DIST_DIR:-dist}"
src_bin="${AVARISK_BIN:-target/$profile/avarisk}"
case "$variant" in cpu|cuda) ;; *) echo "dist: DIST_VARIANT must be cpu or cuda, not '$variant'" >&2; exit 2 ;; esac
command -v patchelf >/dev/null || { echo "dist: patchelf is missing (apt-get install patchelf, or make setup)" >&2; exit 2; }
[ -x "$src_bin" ] || { echo "dist: $src_bin not found: build it first (cargo build --locked$([ "$profile" = release ] && echo ' --release'))" >&2; exit 2; }

version="$(sed -n 's/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml | head -n 1)"
arch="$(uname -m)"
suffix=""; [ "$variant" = cuda ] && suffix="-cuda"
name="avarisk-$version-linux-$arch$suffix"

# A library belongs to the host when it resolves into the system's directories; everything else (the torch venv's
# torch/lib and nvidia/*/lib) is bundled.
is_system() { case "$1" in /lib/*|/usr/lib/*|/lib64/*|/usr/lib64/*) return 0 ;; *) return 1 ;; esac; }
# The NVIDIA driver's libraries come with the GPU node's driver (or the NVIDIA container toolkit), never from here.
is_driver() { case "$1" in libcuda.so*|libnvidia-*|libnvcuvid.so*) return 0 ;; *) return 1 ;; esac; }

mkdir -p "$dist"
tree="$dist/avarisk"
stage="$dist/.avarisk.staging"
rm -rf "$stage"
mkdir -p "$stage/bin" "$stage/lib" "$stage/share/avarisk"

cp "$src_bin" "$stage/bin/avarisk"
chmod u+w "$stage/bin/avarisk"
if [ "$variant" = cpu ] && readelf -d "$stage/bin/avarisk" | grep -q 'NEEDED.*\[libtorch_cuda\.so\]'; then
  # build.rs links libtorch_cuda with --no-as-needed only so that its static initialisers register CUDA: the binary
  # uses none of its symbols (checked below with ldd -r), so dropping the entry leaves a CPU-only binary.
  patchelf --remove-needed libtorch_cuda.so "$stage/bin/avarisk"
fi

# The roots whose dependency closure is bundled: the binary, and for CUDA the libraries loaded with dlopen (cuDNN's
# sub-libraries, libtorch_cuda_linalg for linear algebra on the GPU, NVRTC for jit kernels), which ldd cannot see.
roots=("$stage/bin/avarisk")
runpath="$(readelf -d "$src_bin" | sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p')"
if [ "$variant" = cuda ]; then
  torchlib="${runpath%%:*}"
  [ -f "$torchlib/libtorch_cuda.so" ] || { echo "dist: $src_bin was linked against a libtorch without CUDA ($torchlib)" >&2; exit 2; }
  shopt -s nullglob
  roots+=("$torchlib"/libtorch_cuda_linalg.so "$torchlib"/libcaffe2_nvrtc.so "$torchlib"/../../nvidia/cudnn/lib/libcudnn*.so.*
          "$torchlib"/../../nvidia/cu13/lib/libnvrtc*.so.* "$torchlib"/../../nvidia/cu13/lib/libcusolver.so.*)
  shopt -u nullglob
fi

declare -A bundled=()
for root in "${roots[@]}"; do
  case "$root" in "$stage"/*) ;; *) bundled["$(basename "$root")"]="$(readlink -f "$root")" ;; esac
  # ldd resolves through the binary's original (absolute) RUNPATH, which still points into the venv at this point.
  while read -r soname path; do
    [ -n "$path" ] || continue
    if [ "$path" = "not" ]; then
      is_driver "$soname" && continue
      echo "dist: $soname is not found for $root" >&2; exit 1
    fi
    is_system "$path" || bundled["$soname"]="$(readlink -f "$path")"
  done < <(ldd "$root" | awk '$2 == "=>" { print $1, $3 }')
done
[ -n "${bundled[libtorch_cpu.so]:-}" ] || { echo "dist: libtorch_cpu.so not among the binary's libraries: unexpected" >&2; exit 1; }

for soname in "${!bundled[@]}"; do
  cp "${bundled[$soname]}" "$stage/lib/$soname"
  chmod u+w,a+r "$stage/lib/$soname"
  # The wheel's libraries look for their neighbours in ../../nvidia/*/lib (DT_RPATH): here they all sit together.
  # Libraries without a search path (libcudart, libcupti...) need only system libraries and are left as they are.
  if readelf -d "$stage/lib/$soname" | grep -qE '\((RPATH|RUNPATH)\)'; then
    patchelf --set-rpath '$ORIGIN' "$stage/lib/$soname"
  fi
done
patchelf --set-rpath '$ORIGIN/../lib' "$stage/bin/avarisk"

cp -a sites pipelines "$stage/share/avarisk/"
cat >"$stage/README" <<EOF
avarisk $version ($variant, built from target/$profile on $(date -u +%Y-%m-%d))

  bin/avarisk            the binary; its libtorch libraries are in lib/ (RUNPATH \$ORIGIN/../lib)
  share/avarisk/         the project (sites/, pipelines/): run from there, or set AVARISK_PROJECT to it

Needs a Debian 12 (bookworm) x86_64 host with GDAL's runtime library: apt-get install libgdal32 ca-certificates.
  cd share/avarisk && ../../bin/avarisk info
  AVARISK_PROJECT=\$PWD/share/avarisk AVARISK_ROOT=/srv/avarisk/out bin/avarisk run daily
EOF

# Checks: every library resolves, nothing from the venv or the build machine outside the system directories, and the
# binary's symbols are all defined by what it loads (ldd -r reports undefined symbols, e.g. if libtorch_cuda's were used).
# The bundled libraries are checked the same way (without -r: some CUDA libraries leave symbols to dlopen'ed peers).
check="$(ldd -r "$stage/bin/avarisk" 2>&1)"
if grep -E 'not found|undefined symbol' <<<"$check" >&2; then echo "dist: unresolved libraries or symbols" >&2; exit 1; fi
for lib in "$stage"/lib/*; do check+=$'\n'"$(ldd "$lib" 2>&1)"; done
if grep 'not found' <<<"$check" | grep -vE '^\s*(libcuda\.so|libnvidia-|libnvcuvid\.so)' >&2; then
  echo "dist: unresolved libraries in lib/" >&2; exit 1
fi
stage_abs="$(cd "$stage" && pwd -P)"
while read -r soname path; do
  path="$(readlink -f "$path")"
  case "$path" in "$stage_abs"/lib/*) ;; *) is_system "$path" || { echo "dist: $soname resolves to $path" >&2; exit 1; } ;; esac
done < <(awk '$2 == "=>" && $3 != "not" { print $1, $3 }' <<<"$check")

rm -rf "$tree"
mv "$stage" "$tree"
echo "dist: $tree ($variant, from $src_bin): $(du -sh "$tree" | cut -f1); lib/: $(du -sh "$tree/lib" | cut -f1) in ${#bundled[@]} libraries"
for f in $(cd "$tree/lib" && ls); do printf '  %-28s %s\n' "$f" "$(du -h "$tree/lib/$f" | cut -f1)"; done

if [ "${DIST_TARBALL:-1}" != 0 ]; then
  tarball="$dist/$name.tar.gz"
  rm -f "$dist"/avarisk-*-linux-"$arch$suffix".tar.gz
  tar -C "$dist" --sort=name --owner=0 --group=0 --numeric-owner --transform "s|^avarisk|$name|" -cf - avarisk \
    | gzip -6 >"$tarball.tmp"
  mv "$tarball.tmp" "$tarball"
  echo "dist: $tarball: $(du -h "$tarball" | cut -f1)"
fi
