#!/usr/bin/env bash
# Installs the system packages the project needs on Debian 12 when there is no GPU:
#   - Mesa lavapipe (software Vulkan) from bookworm-backports: Dawn rejects bookworm's Mesa 22;
#   - Debian's chromium: the browser tests, and its SwiftShader Vulkan ICD as a fallback adapter;
#   - dataset-fashion-mnist: the Fashion-MNIST files at a well-known system location;
#   - libjpeg-turbo-progs: djpeg, the reference JPEG decoder the reader tests compare against.
# The backports suite reuses the archive URI the machine already uses (never a hard-coded mirror).
# Safe to run twice. Needs root (CI runs as root); without root it only reports what is missing.
set -euo pipefail

need=()
[ -f /usr/share/vulkan/icd.d/lvp_icd.json ] && dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null | grep -q '^2[5-9]' || need+=(lavapipe)
[ -x /usr/lib/chromium/chromium ] || need+=(chromium)
[ -d /usr/share/datasets/fashion-mnist ] || need+=(fashion)
command -v djpeg >/dev/null || need+=(djpeg)
if [ ${#need[@]} -eq 0 ]; then echo "setup-system: everything already installed"; exit 0; fi

if [ "$(id -u)" != 0 ]; then
  echo "setup-system: missing ${need[*]}; run this script as root (it uses apt-get)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
uri=""
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
  uri=$(awk '/^URIs:/ && $2 ~ /debian\/?$/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
fi
if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
  uri=$(awk '$1=="deb" && $3 ~ /^bookworm$/ {print $2; exit}' /etc/apt/sources.list)
fi
if [ -z "$uri" ]; then
  echo "setup-system: could not find the Debian archive URI in /etc/apt; add bookworm-backports yourself" >&2
  exit 1
fi
if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" \
    > /etc/apt/sources.list.d/backports.sources
  echo "setup-system: added bookworm-backports from $uri"
fi
apt-get update -qq
pkgs=()
for n in "${need[@]}"; do
  case $n in
    lavapipe) apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null ;;
    chromium) pkgs+=(chromium) ;;
    djpeg) pkgs+=(libjpeg-turbo-progs) ;;
    fashion) pkgs+=(dataset-fashion-mnist) ;;
  esac
done
[ ${#pkgs[@]} -eq 0 ] || apt-get install -y -qq "${pkgs[@]}" >/dev/null
echo "setup-system: installed ${need[*]}"
dpkg-query -W -f='  mesa-vulkan-drivers ${Version}\n' mesa-vulkan-drivers
