#!/usr/bin/env bash
# Installs what a command needs, idempotently: npm packages when node_modules is missing or older
# than package-lock.json, the generated WGSL module, then the system packages the command needs
# (scripts/setup-system.sh decides; it asks Dawn for an adapter, so it runs after npm ci).
# Usage: bash scripts/install.sh [start|test]   (default test: also the test-only tools)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "install: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
node scripts/gen-shaders.mjs
bash scripts/setup-system.sh "${1:-test}"
