# Sourced by scripts/dist-test.sh and scripts/image-test.sh: a store holding one site's onboarded outputs.
#
#   has_onboarded DEMO_ROOT SITE     whether the output root DEMO_ROOT (`make demo`'s) holds SITE's bundle, terrain
#                                    and hazard model
#   copy_onboarded DEMO_ROOT SITE STORE   copies them, and the site's records, into STORE
has_onboarded() {
  [ -f "$1/bundles/$2/bundle.json" ] && [ -f "$1/sites/$2/hazard.json" ] \
    && [ -f "$1/sites/$2/terrain/features.tif" ] && [ -f "$1/sites/$2/terrain/dem.tif" ]
}

copy_onboarded() {
  local demo_root="$1" site="$2" store="$3"
  mkdir -p "$store/bundles" "$store/sites/$site"
  cp -a "$demo_root/bundles/$site" "$store/bundles/"
  cp -a "$demo_root/sites/$site/terrain" "$demo_root/sites/$site/hazard.json" "$store/sites/$site/"
  if [ -d "$demo_root/sites/$site/observations" ]; then cp -a "$demo_root/sites/$site/observations" "$store/sites/$site/"; fi
}
