#!/usr/bin/env bash
# Installs what a command needs, idempotently: npm packages when node_modules is missing or older
# than package-lock.json, the generated WGSL module, then the system packages the command needs
# (scripts/setup-system.sh decides; it asks Dawn for an adapter, so it runs after npm ci), then the
# optional native JPEG accelerator.
# Usage: bash scripts/install.sh [start|test]   (default test: also the test-only tools)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "install: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
node scripts/gen-shaders.mjs
bash scripts/setup-system.sh "${1:-test}"
# The optional JPEG accelerator (native/turbo, libjpeg-turbo's TurboJPEG API), rebuilt when its
# sources are newer than the build. It needs a C compiler and libturbojpeg0-dev (setup-system.sh
# installs the latter); without it sharp decodes JPEGs, so a failed build is one line, not an error.
addon=native/turbo/build/Release/turbo.node
if [ ! -f "$addon" ] || [ -n "$(find native/turbo -maxdepth 1 -type f -newer "$addon")" ]; then
  if ! log=$(npm run -s build:native 2>&1); then
    why=$(printf '%s\n' "$log" | grep -m1 -iE 'error|not found' | cut -c1-160 || true)
    echo "install: the JPEG accelerator (native/turbo) was not built${why:+ ($why)}; sharp decodes JPEGs"
  fi
fi
