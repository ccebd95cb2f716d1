#!/usr/bin/env bash
# Tests the Containerfile's runtime stage with podman (`make test-image`; not part of `make test`), without a registry:
#   1. the base: docker.io/library/debian:bookworm-slim when local storage has it, else a stand-in under that name:
#      `debootstrap --variant=minbase bookworm` from deb.debian.org, trimmed like the official slim image (no docs,
#      man pages or locales; dpkg told to keep them out) with the official image's apt sources (bookworm,
#      -updates, -security), cached as a tarball in ~/.cache/avarisk/image-test/ and `podman import`ed (labelled
#      org.avarisk.image-test.base; a real bookworm-slim in storage is used as it is and never replaced);
#   2. the runtime stage (`--target runtime`, `--pull=never`), its `COPY --from=build /src/dist/avarisk` fed from the
#      built dist tree $DIST_TREE (default dist/avarisk: `make dist`) through `--build-context build=DIR` (hard links in
#      a temporary DIR/src/dist/avarisk), so the build stage (Rust image, torch, release build) does not run;
#   3. the image: ENTRYPOINT/CMD, `ldd` of /opt/avarisk/bin/avarisk inside it, `podman run --rm IMAGE` (`avarisk info`),
#      and the demo's daily stage (`run daily --date 2021-02-15 --offline --sites tyrol-west`) on a copy of the site's
#      onboarded outputs mounted at /data/out, whose published files must equal, byte for byte, those the dist tree's
#      own binary makes on this host from the same copy; then the sizes (`podman images`, `podman history`).
# The store: the onboarded outputs of `make demo` under $DEMO_ROOT (default out/) when they exist, else a quick
# onboarding in the image (tyrol-west as its own source site, 1 training epoch), as scripts/dist-test.sh does.
# Needs: podman >= 4.1 (--build-context), and for the stand-in base: root, debootstrap, deb.debian.org; exits 0
# with the reason when podman or debootstrap cannot run. Build RUN steps use `--isolation chroot` (IMAGE_TEST_ISOLATION
# to change it). Where `podman run` fails (no usable OCI runtime, e.g. crun on hybrid cgroups), the image's file system
# runs under `buildah run --isolation chroot` with the image's environment and working directory instead, and the
# script says so; IMAGE_TEST_RUN_ARGS adds options to `podman run` (e.g. "--runtime runc --ulimit nofile=16384:16384
# --ulimit nproc=16384:16384" where crun cannot run). Storage options: containers-storage's own (storage.conf,
# CONTAINERS_STORAGE_CONF), so podman and buildah see the same images.
# Environment: DIST_TREE, DEMO_ROOT, IMAGE_TEST_TAG (default localhost/avarisk:image-test; the previous image of that
# tag is removed when replaced), IMAGE_TEST_FRESH=1 (debootstrap again, build with --no-cache), IMAGE_TEST_ONBOARD=1
# (the quick onboarding even when $DEMO_ROOT has the outputs), KEEP=1 (keep the temp dir).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/onboarded-store.sh
t0=$SECONDS
site=tyrol-west
date=2021-02-15
dist_tree="$(readlink -f "${DIST_TREE:-dist/avarisk}" 2>/dev/null || echo "${DIST_TREE:-dist/avarisk}")"
demo_root="${DEMO_ROOT:-out}"
image="${IMAGE_TEST_TAG:-localhost/avarisk:image-test}"
release="$(sed -n 's/^ARG DEBIAN_RELEASE=//p' Containerfile)"
base="docker.io/library/debian:${release}-slim"
cache="$HOME/.cache/avarisk/image-test"
rootfs_tar="$cache/debian-$release-slim-rootfs.tar"
label=org.avarisk.image-test.base
read -r -a run_args <<<"${IMAGE_TEST_RUN_ARGS:-}"

fail() { echo "image-test: FAIL: $*" >&2; exit 1; }
skip() { echo "image-test: SKIP: $*"; exit 0; }
command -v podman >/dev/null || skip "podman is not installed (apt-get install podman)"
podman info >/dev/null 2>&1 || skip "podman cannot run here: $(podman info 2>&1 | tail -n 1)"
[ -x "$dist_tree/bin/avarisk" ] && [ -d "$dist_tree/share/avarisk/sites" ] \
  || fail "no dist tree at $dist_tree (make dist, or DIST_TREE=...)"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/avarisk-image-test.XXXXXX")"
ctr=
trap 'rc=$?; if [ -n "$ctr" ]; then buildah rm "$ctr" >/dev/null 2>&1 || true; fi
      if [ $rc -eq 0 ] && [ "${KEEP:-0}" != 1 ]; then rm -rf "$tmp"; elif [ $rc -ne 0 ]; then echo "image-test: kept $tmp" >&2; fi' EXIT

# 1. The base image.
if [ "${IMAGE_TEST_FRESH:-0}" = 1 ]; then
  rm -f "$rootfs_tar"
  if [ -n "$(podman image inspect --format "{{index .Labels \"$label\"}}" "$base" 2>/dev/null)" ]; then
    podman rmi "$base" >/dev/null || true
  fi
fi
if podman image exists "$base"; then
  if [ -n "$(podman image inspect --format "{{index .Labels \"$label\"}}" "$base")" ]; then
    echo "image-test: base $base: the debootstrapped stand-in already in storage"
  else
    echo "image-test: base $base: from local storage (not a stand-in)"
  fi
else
  if [ ! -f "$rootfs_tar" ]; then
    command -v debootstrap >/dev/null || skip "$base is not in local storage and debootstrap is not installed (apt-get install debootstrap)"
    [ "$(id -u)" = 0 ] || skip "$base is not in local storage and debootstrap needs root"
    echo "image-test: base: debootstrap --variant=minbase $release (about a minute)"
    root="$tmp/rootfs"
    debootstrap --variant=minbase "$release" "$root" http://deb.debian.org/debian >"$tmp/debootstrap.log" 2>&1 \
      || { tail -n 5 "$tmp/debootstrap.log"; skip "debootstrap failed (log above)"; }
    # What the official -slim variant leaves out (debuerreotype --slimify), and its apt sources.
    mkdir -p "$root/etc/dpkg/dpkg.cfg.d"
    printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' 'path-exclude /usr/share/groff/*' \
      'path-exclude /usr/share/info/*' 'path-exclude /usr/share/linda/*' 'path-exclude /usr/share/lintian/overrides/*' \
      'path-exclude /usr/share/locale/*' 'path-exclude /usr/share/man/*' >"$root/etc/dpkg/dpkg.cfg.d/docker"
    find "$root/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
    find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
    rm -rf "$root"/usr/share/{groff,info,linda,locale,man}/* "$root"/usr/share/lintian/overrides/* \
      "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/*.log \
      "$root"/var/log/apt/* "$root"/tmp/* "$root/etc/apt/sources.list"
    cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: http://deb.debian.org/debian
Suites: $release $release-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: $release-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    mkdir -p "$cache"
    tar --numeric-owner -C "$root" -cf "$rootfs_tar.tmp" . && mv "$rootfs_tar.tmp" "$rootfs_tar"
    rm -rf "$root"
  fi
  echo "image-test: base $base: podman import $rootfs_tar"
  podman import -q --change "LABEL $label=debootstrap" --change 'CMD ["bash"]' "$rootfs_tar" "$base" >/dev/null \
    || fail "podman import $rootfs_tar"
fi

# 2. The runtime stage, the dist tree standing in for the build stage's /src/dist/avarisk.
mkdir -p "$tmp/context" "$tmp/build/src/dist"
cp -al "$dist_tree" "$tmp/build/src/dist/avarisk" 2>/dev/null || cp -a "$dist_tree" "$tmp/build/src/dist/avarisk"
cache_args=(); [ "${IMAGE_TEST_FRESH:-0}" != 1 ] || cache_args=(--no-cache)
old_id="$(podman image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)"
echo "image-test: podman build --target runtime --build-context build=<$dist_tree as src/dist/avarisk> -t $image"
t1=$SECONDS
podman build --pull=never --isolation "${IMAGE_TEST_ISOLATION:-chroot}" --network host \
  "${cache_args[@]}" --build-context build="$tmp/build" --target runtime \
  -f Containerfile -t "$image" "$tmp/context" >"$tmp/build.log" 2>&1 \
  || { tail -n 30 "$tmp/build.log" >&2; fail "podman build (log: $tmp/build.log)"; }
echo "image-test: built in $((SECONDS - t1)) s"
rm -rf "$tmp/build"
new_id="$(podman image inspect --format '{{.Id}}' "$image")"
if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then podman rmi "$old_id" >/dev/null 2>&1 || true; fi

# 3. The image. `podman run` when it works here, else the image's file system under buildah's chroot isolation.
[ "$(podman image inspect --format '{{json .Config.Entrypoint}} {{json .Config.Cmd}}' "$image")" = '["avarisk"] ["info"]' ] \
  || fail "ENTRYPOINT/CMD are not [\"avarisk\"] [\"info\"]"
if podman run --rm "${run_args[@]}" --entrypoint /bin/true "$image" 2>"$tmp/run.err"; then
  mode=podman
  run_image() {  # $1: the output root to mount at /data/out or "", then avarisk's arguments
    local vol=(); [ -z "$1" ] || vol=(-v "$1:/data/out"); shift
    podman run --rm "${run_args[@]}" "${vol[@]}" "$image" "$@"
  }
  run_sh() { podman run --rm "${run_args[@]}" --entrypoint /bin/sh "$image" -c "$1"; }
else
  command -v buildah >/dev/null || skip "podman run fails here ($(tail -n 1 "$tmp/run.err")) and buildah is not installed"
  mode=chroot
  echo "image-test: podman run fails here: $(tail -n 1 "$tmp/run.err")"
  echo "image-test: running the image's file system with buildah run --isolation chroot instead"
  ctr="$(buildah from --pull-never "$image")"
  run_image() {
    local vol=(); [ -z "$1" ] || vol=(-v "$1:/data/out"); shift
    buildah run --isolation chroot "${vol[@]}" "$ctr" -- avarisk "$@"
  }
  run_sh() { buildah run --isolation chroot "$ctr" -- /bin/sh -c "$1"; }
fi

ldd_out="$(run_sh 'ldd /opt/avarisk/bin/avarisk')"
! grep -q 'not found' <<<"$ldd_out" || fail "ldd in the image: $(grep 'not found' <<<"$ldd_out")"
grep -q '/opt/avarisk/bin/../lib/libtorch_cpu.so' <<<"$ldd_out" || fail "libtorch_cpu.so does not come from /opt/avarisk/lib"
info="$(run_image "" info)" || fail "avarisk info in the image"
echo "$info" | sed 's/^/  /'
grep -q '^gdal ' <<<"$info" && grep -q 'libtorch device Cpu' <<<"$info" || fail "avarisk info: unexpected output"
echo "image-test: info ok ($mode), ldd resolves every library ($(grep -c '=>' <<<"$ldd_out"), libtorch from /opt/avarisk/lib)"

store="$tmp/onboarded"
if [ "${IMAGE_TEST_ONBOARD:-0}" != 1 ] && has_onboarded "$demo_root" "$site"; then
  echo "image-test: store: $site's onboarded outputs from $demo_root (bundle, terrain, records, hazard)"
  copy_onboarded "$demo_root" "$site" "$store"
else
  # In the image, with a quick copy of the project mounted into the output root: its own records, 1 epoch.
  echo "image-test: store: onboarding $site in the image (own records, 1 epoch; ~30 s)"
  mkdir -p "$store"
  cp -a "$dist_tree/share/avarisk" "$store/project-quick"
  sed -i 's/^epochs = .*/epochs = 1/' "$store/project-quick/pipelines/onboard.toml"
  sed -i '/^from = /d; /^mode = /d' "$store/project-quick/sites/$site/site.toml"
  run_image "$store" --project /data/out/project-quick run onboard --sites "$site" >"$tmp/onboard.log" 2>&1 \
    || { tail -n 30 "$tmp/onboard.log" >&2; fail "onboarding in the image"; }
  rm -rf "$store/project-quick"
fi
cp -a "$store" "$tmp/out-image"
cp -a "$store" "$tmp/out-host"

echo "image-test: the daily stage for $date (offline) in the image, /data/out mounted"
t1=$SECONDS
run_image "$tmp/out-image" run daily --date "$date" --offline --sites "$site" >"$tmp/daily.log" 2>&1 \
  || { tail -n 30 "$tmp/daily.log" >&2; fail "the daily run in the image"; }
echo "image-test: daily run ok in $((SECONDS - t1)) s"
pub="$tmp/out-image/published/$site/$date"
for f in risk_probability.tif danger_class.tif zones.geojson quicklook.png item.json; do
  [ -s "$pub/$f" ] || fail "$pub/$f was not published"
done
(cd "$dist_tree/share/avarisk" && env -i PATH=/usr/bin:/bin HOME="$tmp" LANG=C.UTF-8 ../../bin/avarisk --root "$tmp/out-host" \
  run daily --date "$date" --offline --sites "$site" >"$tmp/daily-host.log" 2>&1) \
  || { tail -n 30 "$tmp/daily-host.log" >&2; fail "the daily run with $dist_tree/bin/avarisk on this host"; }
for f in risk_probability.tif danger_class.tif zones.geojson quicklook.png; do
  cmp -s "$pub/$f" "$tmp/out-host/published/$site/$date/$f" || fail "$f differs from the one $dist_tree/bin/avarisk makes on this host"
done
echo "image-test: the image's maps equal the dist tree's on this host (cmp)"

echo "image-test: sizes (podman images; layers: podman history)"
podman images --format '  {{.Repository}}:{{.Tag}}  {{.Size}}' "$base"
podman images --format '  {{.Repository}}:{{.Tag}}  {{.Size}}' "$image"
podman history --format '    {{.Size}}  {{.CreatedBy}}' "$image" | grep -v '^    0 B' | cut -c1-100
echo "image-test: ok in $((SECONDS - t0)) s"
