#!/usr/bin/env bash
# The README's main job: install what is missing, build, and train the default network
# (Fashion-MNIST: Debian's dataset-fashion-mnist when it can be installed, else the lookup's
# verified download) with a progress bar. Extra arguments go to `webgpu-trainer train` (see
# `node bin/webgpu-trainer.js train --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
# Fashion-MNIST is only wanted when the run uses the default dataset.
SETUP_NEED_FASHION=1
for a in "$@"; do case $a in --data | --data=* | --resume | --resume=*) SETUP_NEED_FASHION=0 ;; esac; done
export SETUP_NEED_FASHION
bash scripts/install.sh start
npx tsc -p tsconfig.build.json
exec node bin/webgpu-trainer.js train "$@"
