#!/usr/bin/env bash
# The README's main job: install what is missing, build, and train the default network
# (Fashion-MNIST, which Debian's dataset-fashion-mnist package brings) with a progress bar.
# Extra arguments go to `webgpu-trainer train` (see `node bin/webgpu-trainer.js train --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
bash scripts/install.sh
npx tsc -p tsconfig.build.json
exec node bin/webgpu-trainer.js train "$@"
