#!/usr/bin/env bash
# Installs the system packages a command needs, only when they are needed and can be installed:
#   - a software Vulkan driver (Mesa lavapipe from bookworm-backports: Dawn rejects bookworm's
#     Mesa 22) only when Dawn finds no adapter at all (scripts/probe-adapter.mjs asks it);
#   - for the tests only: Debian's chromium (browser tests; its SwiftShader is a fallback
#     adapter) and libjpeg-turbo-progs (djpeg, the reference JPEG decoder);
#   - libturbojpeg0-dev when its header is missing, for the optional JPEG accelerator (native/turbo,
#     built by scripts/install.sh after this script);
#   - dataset-fashion-mnist when Fashion-MNIST is wanted and not found locally; without root the
#     dataset lookup downloads it (md5-verified) on first use instead.
# Usage: bash scripts/setup-system.sh [start|test]   (default test)
# The decisions live in scripts/setup-plan.mjs (tested with made-up facts); this script gathers
# the facts, then runs the plan. Without root or apt it prints one line per missing piece and
# goes on; it exits 1 only when the command cannot run at all (no adapter), or in CI (CI=true)
# when something the tests use is missing. The backports suite reuses the archive URI the
# machine already uses (never a hard-coded mirror). Safe to run twice.
set -euo pipefail
cd "$(dirname "$0")/.."
export SETUP_MODE=${1:-test}

# Facts. Each can be given in the environment instead (the tests do).
: "${SETUP_UID:=$(id -u)}"
if [ -z "${SETUP_APT:-}" ]; then
  if command -v apt-get >/dev/null && command -v dpkg-query >/dev/null; then SETUP_APT=1; else SETUP_APT=0; fi
fi
if [ -z "${SETUP_MESA+x}" ]; then
  SETUP_MESA=""
  [ "$SETUP_APT" = 1 ] && SETUP_MESA=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true)
fi
if [ -z "${SETUP_ADAPTER:-}" ]; then
  if [ -d node_modules/webgpu ]; then
    SETUP_ADAPTER=$(XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp} ${WGT_ADAPTER_PROBE:-node scripts/probe-adapter.mjs} 2>/dev/null | tail -n 1) || true
  fi
  : "${SETUP_ADAPTER:={\"adapter\":\"unknown\"\}}"
fi
if [ -z "${SETUP_HAVE+x}" ]; then
  SETUP_HAVE_FROM_MACHINE=1
  SETUP_HAVE=""
  [ -x "${CHROMIUM_PATH:-/usr/lib/chromium/chromium}" ] && SETUP_HAVE+=" chromium"
  [ -f /usr/lib/chromium/vk_swiftshader_icd.json ] && SETUP_HAVE+=" swiftshader"
  command -v djpeg >/dev/null && SETUP_HAVE+=" djpeg"
  # Where the dataset lookup (src/data/known.ts) would find Fashion-MNIST without a download.
  for d in ${WGT_DATA_DIR:+"$WGT_DATA_DIR/fashion-mnist"} /usr/share/datasets/fashion-mnist \
    ../shared/data/fashion-mnist "${HOME:-/nonexistent}/.cache/webgpu-trainer/fashion-mnist"; do
    if [ -f "$d/train-images-idx3-ubyte.gz" ] || [ -f "$d/train-images-idx3-ubyte" ]; then SETUP_HAVE+=" fashion"; break; fi
  done
fi
# The JPEG accelerator's header, looked for only when the facts come from this machine (tests
# that give SETUP_HAVE describe a whole machine and leave it out).
if [ -z "${SETUP_NEED_TURBOJPEG+x}" ]; then
  SETUP_NEED_TURBOJPEG=0
  if [ -n "${SETUP_HAVE_FROM_MACHINE:-}" ] && [ ! -f /usr/include/turbojpeg.h ]; then SETUP_NEED_TURBOJPEG=1; fi
fi
export SETUP_UID SETUP_APT SETUP_MESA SETUP_ADAPTER SETUP_HAVE SETUP_NEED_TURBOJPEG

plan=$(node scripts/setup-plan.mjs)
failed=0
installed=()
while IFS= read -r line; do
  [ -n "$line" ] || continue
  action=${line%% *}
  args=${line#* }
  case $action in
    note) echo "setup-system: $args" ;;
    error) echo "setup-system: error: $args" >&2; failed=1 ;;
    install-backports | install)
      export DEBIAN_FRONTEND=noninteractive
      if [ "$action" = install-backports ] && ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        uri=""
        if [ -f /etc/apt/sources.list.d/debian.sources ]; then
          uri=$(awk '/^URIs:/ && $2 ~ /debian\/?$/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
        fi
        if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
          uri=$(awk '$1=="deb" && $3 ~ /^bookworm$/ {print $2; exit}' /etc/apt/sources.list)
        fi
        if [ -z "$uri" ]; then
          echo "setup-system: error: could not find the Debian archive URI in /etc/apt; add bookworm-backports yourself" >&2
          exit 1
        fi
        printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" \
          >/etc/apt/sources.list.d/backports.sources
        echo "setup-system: added bookworm-backports from $uri"
      fi
      [ ${#installed[@]} -gt 0 ] || apt-get update -qq
      read -r -a pkgs <<<"$args"
      if [ "$action" = install-backports ]; then
        apt-get install -y -qq -t bookworm-backports "${pkgs[@]}" >/dev/null
      else
        apt-get install -y -qq "${pkgs[@]}" >/dev/null
      fi
      installed+=("${pkgs[@]}")
      ;;
  esac
done <<<"$plan"
[ "$failed" = 0 ] || exit 1
if [ ${#installed[@]} -gt 0 ]; then
  echo "setup-system: installed ${installed[*]}"
elif [ -z "$plan" ]; then
  echo "setup-system: nothing to install"
fi
