#!/usr/bin/env python3
"""The state-dict names, shapes and dtypes of torchvision's resnet18/34/50 and mobilenet_v2.

Writes test/fixtures/torchvision/keys.json, which the import tests use to build state dicts with
torchvision's exact names for the architectures that have no shared reference file. With
--write-pth DIR it also saves randomly initialised resnet50.pth (the size of torchvision's
ImageNet file, about 100 MB) there, for measuring the import's memory.

    /usr/bin/python3 scripts/torchvision-keys.py [--write-pth /tmp]

Needs Debian's python3-torch and python3-torchvision (torchvision 0.14).
"""
import json
import sys
from pathlib import Path

import torch
import torchvision

OUT = Path(__file__).parent.parent / 'test/fixtures/torchvision/keys.json'


def main():
    keys = {}
    for arch in ['resnet18', 'resnet34', 'resnet50', 'mobilenet_v2']:
        sd = getattr(torchvision.models, arch)().state_dict()
        keys[arch] = [[k, list(v.shape), 'I64' if v.dtype == torch.int64 else 'F32'] for k, v in sd.items()]
    OUT.write_text(json.dumps(keys, separators=(',', ':')) + '\n')
    print(f'wrote {OUT}: ' + ', '.join(f'{a} {len(k)} tensors' for a, k in keys.items()))
    if '--write-pth' in sys.argv:
        target = Path(sys.argv[sys.argv.index('--write-pth') + 1]) / 'resnet50.pth'
        torch.manual_seed(0)
        torch.save(torchvision.models.resnet50().state_dict(), target)
        print(f'wrote {target} ({target.stat().st_size} bytes)')


if __name__ == '__main__':
    main()
