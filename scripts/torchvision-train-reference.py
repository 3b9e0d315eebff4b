#!/usr/bin/env python3
"""PyTorch's train-mode outputs of the shared mobilenet_v2 with its dropout switched off.

The shared reference (../shared/data/torchvision/mobilenet_v2-reference.safetensors) computed
logits_train with the classifier's Dropout(0.2) active, so its mask came from PyTorch's random
stream and no other implementation can reproduce those numbers. This script recomputes the same
train-mode pass (batch statistics over the same 8 images) with the dropout in eval mode, and
writes the logits, the mean cross-entropy and the same parameters' gradients to
test/fixtures/torchvision/mobilenet_v2-train-nodropout.safetensors, F32, in the shared file's
names. resnet18 has no dropout: its shared reference is used as it is.

    /usr/bin/python3 scripts/torchvision-train-reference.py [../shared/data/torchvision]

Needs Debian's python3-torch and python3-torchvision (torch 1.13, torchvision 0.14).
"""
import json
import struct
import sys
from pathlib import Path

import torch
import torchvision

SHARED = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent.parent.parent / 'shared/data/torchvision')
OUT = Path(__file__).parent.parent / 'test/fixtures/torchvision/mobilenet_v2-train-nodropout.safetensors'


def read_safetensors(path):
    raw = path.read_bytes()
    n = struct.unpack('<Q', raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    dtypes = {'F32': torch.float32, 'I64': torch.int64}
    out = {}
    for k, v in header.items():
        if k == '__metadata__':
            continue
        s, e = v['data_offsets']
        out[k] = torch.frombuffer(bytearray(raw[8 + n + s:8 + n + e]), dtype=dtypes[v['dtype']]).reshape(v['shape'])
    return out


def write_safetensors(path, tensors):
    header, blobs, at = {}, [], 0
    for k in sorted(tensors):
        b = tensors[k].contiguous().numpy().astype('<f4').tobytes()
        header[k] = {'dtype': 'F32', 'shape': list(tensors[k].shape), 'data_offsets': [at, at + len(b)]}
        blobs.append(b)
        at += len(b)
    text = json.dumps(header, separators=(',', ':')).encode()
    text += b' ' * (-len(text) % 8)
    path.write_bytes(struct.pack('<Q', len(text)) + text + b''.join(blobs))


def main():
    ref = read_safetensors(SHARED / 'mobilenet_v2-reference.safetensors')
    model = torchvision.models.mobilenet_v2(num_classes=10)
    model.load_state_dict(torch.load(SHARED / 'mobilenet_v2.pth'))
    model.train()
    model.classifier[0].eval()  # dropout off; every batch norm stays in train mode
    logits = model(ref['x'])
    loss = torch.nn.functional.cross_entropy(logits, ref['labels'])
    loss.backward()
    params = dict(model.named_parameters())
    out = {'logits_train': logits.detach(), 'loss_train': loss.detach().reshape(1)}
    for k in ref:
        if k.startswith('grad.'):
            out[k] = params[k[len('grad.'):]].grad
    OUT.parent.mkdir(parents=True, exist_ok=True)
    write_safetensors(OUT, out)
    print(f'wrote {OUT} ({OUT.stat().st_size} bytes): loss {loss.item():.6f} (shared, with dropout: {ref["loss_train"].item():.6f})')


if __name__ == '__main__':
    main()
