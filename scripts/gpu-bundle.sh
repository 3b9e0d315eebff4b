#!/usr/bin/env bash
# Builds .gpubundle/: everything needed to run the benchmark on an NVIDIA GPU machine that has
# no network and no Node: a Node binary (xz), the engine benchmark bundled into one .mjs, the
# `webgpu` package's Dawn addon for linux-x64, the Vulkan loader (.deb, unpacked there), and a
# sample model file for the PyTorch safetensors check. bench/gpu/run.sh is the other half.
set -euo pipefail
cd "$(dirname "$0")/.."
out=.gpubundle
rm -rf "$out" && mkdir -p "$out/node_modules/webgpu/dist/linux-x64"
node scripts/gen-shaders.mjs
xz -T2 -6 -c "$(command -v node)" > "$out/node.xz"
npx esbuild bench/gpu/engine-bench.ts --bundle --platform=node --format=esm --target=node20 \
  --external:webgpu --outfile="$out/engine-bench.mjs" --log-level=warning
cp node_modules/webgpu/package.json node_modules/webgpu/index.js "$out/node_modules/webgpu/"
xz -T2 -6 -c node_modules/webgpu/dist/linux-x64/dawn.node > "$out/node_modules/webgpu/dist/linux-x64/dawn.node.xz"
if ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
  mkdir -p .gl /tmp/amd64/partial
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  apt-get $o update -qq && (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi
cp .gl/*.deb "$out/"
npx tsx bench/gpu/sample-model.ts "$out/sample-model.safetensors"
du -sh "$out"
