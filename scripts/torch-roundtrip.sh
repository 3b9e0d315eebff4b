#!/usr/bin/env bash
# Round trip through PyTorch DistributedDataParallel (not part of `npm test`: python3-torch is large):
#   1. train a small MNIST model with this engine's CLI (an MLP, or a CNN with --model; builds
#      without --model train the CNN through the API: scripts/torch-roundtrip-cnn.ts); for
#      `torchvision`, import ../shared/data/torchvision/resnet18.pth, check that the exported
#      model.py (torchvision's own resnet18 class) gives PyTorch's reference logits, and fine-tune
#      its head on cat vs non-cat (`train --from --freeze backbone`, a re-headed 2-class model),
#   2. `webgpu-trainer export --torch` its checkpoint (weights + Adam moments),
#   3. run the generated train.py for one epoch with two processes over gloo on 127.0.0.1,
#   4. `webgpu-trainer eval` the model file train.py wrote: its test accuracy must be at least
#      the exported model's.
#
# Usage: bash scripts/torch-roundtrip.sh [mlp|cnn|graph|torchvision] [WORK_DIR]
#        (default mlp, /tmp/wgt-torch-roundtrip)
# Env:   ROUNDTRIP_LIMIT (training samples for the engine run, default 12000), ROUNDTRIP_EPOCHS (2),
#        TORCHVISION_DATA (the reference models, default ../shared/data/torchvision).
#
# The ranks are started by hand (--rank/--world-size/--init-method tcp://127.0.0.1:PORT), not with
# torchrun: Debian bookworm's python3-torch 1.13 ships a torchrun that dies at start-up under
# Python 3.11 (AttributeError in torch.distributed.elastic's argument handling, `to_map`, which
# 1.13 predates 3.11 support for). train.py itself also runs under a modern `torchrun`, which
# sets RANK/WORLD_SIZE/LOCAL_RANK and the env:// rendezvous instead.
set -euo pipefail

KIND=${1:-mlp}
WORK=${2:-/tmp/wgt-torch-roundtrip}/$KIND
LIMIT=${ROUNDTRIP_LIMIT:-12000}
EPOCHS=${ROUNDTRIP_EPOCHS:-2}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TVDATA=${TORCHVISION_DATA:-$ROOT/../shared/data/torchvision}
DATA=mnist
[ "$KIND" = torchvision ] && DATA=catvnoncat
PY=/usr/bin/python3 # Debian's interpreter, where python3-torch installs
cd "$ROOT"
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}

if ! "$PY" -c 'import torch, numpy' 2>/dev/null; then
  echo "== installing python3-torch and python3-numpy (Debian packages, ~1 GB)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y python3-torch python3-numpy >/dev/null
fi
if [ "$KIND" = torchvision ] && ! "$PY" -c 'import torchvision' 2>/dev/null; then
  echo "== installing python3-torchvision (Debian package)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y python3-torchvision >/dev/null
fi
"$PY" -c 'import torch, numpy; print("torch", torch.__version__, "numpy", numpy.__version__)'

echo "== building the CLI"
npm run -s gen
npx tsc -p tsconfig.build.json

rm -rf "$WORK" && mkdir -p "$WORK"
CLI=(node bin/webgpu-trainer.js)
echo "== 1. engine: train $KIND on $DATA"
case "$KIND" in
  mlp)
    "${CLI[@]}" train --data mnist --layers 128 --epochs "$EPOCHS" --limit "$LIMIT" --out "$WORK/engine" --progress none
    ;;
  cnn)
    # conv, batch norm, max pool, strided conv without bias, dropout, flatten, batch norm, dense:
    # every layer type whose parameters the export maps. The CLI trains it (--model); builds
    # whose `train` has no --model train it through the API (scripts/torch-roundtrip-cnn.ts).
    if "${CLI[@]}" train --help | grep -q -- '--model FILE'; then
      cat >"$WORK/net.json" <<'JSON'
{
  "layers": [
    { "type": "conv2d", "filters": 8, "kernelSize": 3, "padding": "same", "activation": "relu" },
    { "type": "batchnorm" },
    { "type": "maxpool2d", "size": 2 },
    { "type": "conv2d", "filters": 16, "kernelSize": 3, "stride": 2, "padding": "same", "bias": false, "activation": "relu" },
    { "type": "dropout", "rate": 0.1 },
    { "type": "flatten" },
    { "type": "batchnorm" },
    { "units": 10, "activation": "softmax" }
  ]
}
JSON
      "${CLI[@]}" train --data mnist --model "$WORK/net.json" --lr 0.002 --batch-size 64 --epochs "$EPOCHS" \
        --limit "$LIMIT" --out "$WORK/engine" --progress none
    else
      npx tsx scripts/torch-roundtrip-cnn.ts "$WORK/engine" "$LIMIT" "$EPOCHS"
    fi
    ;;
  graph)
    # A graph (model.py's Net with a forward): a depthwise conv, a projection skip and an add, a
    # concat of two branches, layer norm, a grouped conv, a flatten into the dense layer.
    cat >"$WORK/net.json" <<'JSON'
{
  "layers": [
    { "type": "conv2d", "name": "stem", "filters": 8, "kernelSize": 3, "padding": "same", "activation": "relu" },
    { "type": "conv2d", "name": "a", "filters": 8, "kernelSize": 3, "padding": "same", "groups": 8 },
    { "type": "batchnorm", "name": "bn" },
    { "type": "conv2d", "name": "proj", "inputs": "stem", "filters": 8, "kernelSize": 1, "bias": false },
    { "type": "add", "name": "sum", "inputs": ["bn", "proj"], "activation": "relu" },
    { "type": "conv2d", "name": "down", "filters": 8, "kernelSize": 3, "stride": 2, "padding": "same" },
    { "type": "maxpool2d", "name": "pool", "inputs": "sum", "size": 2 },
    { "type": "concat", "name": "cat", "inputs": ["down", "pool"] },
    { "type": "layernorm" },
    { "type": "conv2d", "filters": 16, "kernelSize": 3, "stride": 2, "padding": "same", "groups": 4, "activation": "relu" },
    { "type": "flatten" },
    { "type": "dropout", "rate": 0.1 },
    { "units": 10, "activation": "softmax" }
  ]
}
JSON
    "${CLI[@]}" train --data mnist --model "$WORK/net.json" --lr 0.002 --batch-size 64 --epochs "$EPOCHS" \
      --limit "$LIMIT" --out "$WORK/engine" --progress none
    ;;
  torchvision)
    "${CLI[@]}" import "$TVDATA/resnet18.pth" --image-size 64x64 --out "$WORK/imported.safetensors"
    "${CLI[@]}" export --torch "$WORK/imported.safetensors" --out "$WORK/imported-torch" 2>/dev/null
    grep -q 'torchvision.models.resnet18(num_classes' "$WORK/imported-torch/model.py" ||
      { echo "FAIL: model.py does not build torchvision's resnet18" >&2 && exit 1; }
    # PyTorch's own eval logits on the reference batch (x is NCHW, already normalised), from the
    # torchvision class loaded with the exported tensors.
    "$PY" - "$WORK/imported-torch" "$TVDATA/resnet18-reference.safetensors" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import torch
import model
ref = model.read_safetensors(sys.argv[2])
net = model.load().eval()
with torch.no_grad():
    out = net(ref["x"])
want = ref["logits_eval"]
diff, span = (out - want).abs().max().item(), (want.max() - want.min()).item()
print(f"{type(net).__module__}.{type(net).__name__}: eval logits vs the reference: max |diff| {diff:.3g} "
      f"(logit range {span:.3g})")
if diff > 1e-4 * span:
    sys.exit("FAIL: the exported torchvision model does not give PyTorch's reference logits")
PY
    "${CLI[@]}" train --data catvnoncat --from "$WORK/imported.safetensors" --freeze backbone \
      --epochs "$EPOCHS" --out "$WORK/engine" --progress none
    ;;
  *) echo "unknown kind '$KIND' (mlp, cnn, graph or torchvision)" >&2 && exit 2 ;;
esac

acc() { # test accuracy of a model file as the engine evaluates it
  if [ "$KIND" = cnn ] && ! "${CLI[@]}" eval "$1" --data mnist --limit 10 --json >/dev/null 2>&1; then
    # `eval` cannot load CNN files yet: the engine's API evaluates it the same way.
    npx tsx scripts/torch-roundtrip-cnn.ts --eval "$1" 2>/dev/null | tail -1
  else
    "${CLI[@]}" eval "$1" --data "$DATA" --json 2>/dev/null
  fi | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["accuracy"])'
}
BEFORE=$(acc "$WORK/engine/model.safetensors")

echo "== 2. export --torch"
"${CLI[@]}" export --torch "$WORK/engine/checkpoint.safetensors" --out "$WORK/torch"

echo "== 3. train.py: one epoch, 2 processes, gloo on 127.0.0.1"
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cd "$WORK/torch"
pids=()
for r in 0 1; do
  "$PY" train.py --rank $r --world-size 2 --init-method "tcp://127.0.0.1:$PORT" --epochs 1 >"rank$r.log" 2>&1 &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || { cat rank0.log rank1.log; exit 1; }; done
cat rank0.log
TORCH_ACC=$(sed -n 's/.*test_acc \([0-9.]*\)%.*/\1/p' rank0.log | tail -1)
cd "$ROOT"

echo "== 4. back in the engine"
AFTER=$(acc "$WORK/torch/runs/model.safetensors")
"$PY" - "$BEFORE" "$TORCH_ACC" "$AFTER" <<'PY'
import sys
before, torch_acc, after = float(sys.argv[1]), float(sys.argv[2]) / 100, float(sys.argv[3])
print(f"test accuracy: exported {100 * before:.2f}%, after 1 DDP epoch on 2 processes (PyTorch) "
      f"{100 * torch_acc:.2f}%, loaded back into webgpu-trainer {100 * after:.2f}%")
if after < before:
    sys.exit("FAIL: the model that came back is less accurate than the one exported")
if abs(after - torch_acc) > 0.002:
    sys.exit("FAIL: webgpu-trainer and PyTorch disagree on the same weights by more than 0.2 points")
print("OK")
PY
