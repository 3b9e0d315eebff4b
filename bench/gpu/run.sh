#!/usr/bin/env bash
# Device side of the real-GPU benchmark (see bench/gpu/README.md). Run from the repo root on the
# GPU machine with .gpubundle/ beside it (made by scripts/gpu-bundle.sh). Writes results to $OUT
# (or ./gpu-results).
set -uo pipefail
B=.gpubundle
OUTDIR=$(realpath -m "${OUT:-gpu-results}")
mkdir -p "$OUTDIR" /tmp/wgt/bin
for f in $B/*.deb; do dpkg -x "$f" /; done; ldconfig
if [ ! -f /usr/share/vulkan/icd.d/nvidia_icd.json ] && [ ! -f /etc/vulkan/icd.d/nvidia_icd.json ]; then
  for f in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.x86_64.json; do
    [ -f "$f" ] && export VK_DRIVER_FILES=$f && break
  done
fi
xz -dc $B/node.xz > /tmp/wgt/bin/node && chmod +x /tmp/wgt/bin/node
xz -dc $B/node_modules/webgpu/dist/linux-x64/dawn.node.xz > $B/node_modules/webgpu/dist/linux-x64/dawn.node
export PATH=/tmp/wgt/bin:$PATH XDG_RUNTIME_DIR=/tmp
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$OUTDIR/gpu.txt"
echo "node $(node --version) VK_DRIVER_FILES=${VK_DRIVER_FILES:-unset}"; ls /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/nvidia/share/vulkan/icd.d 2>/dev/null | head
(cd $B && timeout 360 node engine-bench.mjs "$OUTDIR/engine.json" "$@") 2>&1 | tee "$OUTDIR/engine.log"
[ -n "${SKIP_TORCH:-}" ] || timeout 200 python3 bench/gpu/torch_bench.py "$OUTDIR/torch.json" $B/sample-model.safetensors 2>&1 | tee "$OUTDIR/torch.log"
# The CNN workloads D and E in PyTorch eager on the same GPU (fp32, TF32 off), as in bench/cnn.ts.
[ -n "${SKIP_TORCH:-}" ] || timeout 200 python3 scripts/torch-cnn-bench.py --device cuda --json "$OUTDIR/torch-cnn.json" 2>&1 | tee "$OUTDIR/torch-cnn.log"
