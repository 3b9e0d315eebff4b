#!/usr/bin/env bash
# Installs everything the project needs, idempotently: system packages (software Vulkan driver,
# Chromium, Fashion-MNIST, djpeg) when missing, then npm packages when node_modules is missing
# or older than package-lock.json, then the generated WGSL module.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-system.sh
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "install: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
node scripts/gen-shaders.mjs
