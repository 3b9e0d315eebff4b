#!/usr/bin/env bash
# The project's one test command (README and CI run exactly this): static checks, then every
# test tier on a real WebGPU adapter. In CI (CI=true) a missing adapter fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
bash scripts/install.sh test
echo "== typecheck"; npx tsc --noEmit -p tsconfig.json
echo "== lint"; npx eslint --max-warnings 0 .
echo "== format"; npx prettier --check . >/dev/null || { npx prettier --check . ; exit 1; }
echo "== tests"; npx vitest run "$@"
