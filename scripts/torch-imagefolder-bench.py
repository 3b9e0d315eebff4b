#!/usr/bin/python3
"""PyTorch's image-folder loader on a folder of photos, the anchor for bench/decode.ts.

    /usr/bin/python3 scripts/torch-imagefolder-bench.py DIR [--size 224] [--workers 2] [--batch 64]
                                                        [--limit N]

torchvision.datasets.ImageFolder + DataLoader(num_workers=2, batch_size=64), transform
Resize(size) + CenterCrop(size) + ToTensor() (PIL decodes with libjpeg-turbo), one full pass in
file order. torch's thread count is left as the user would leave it (the workers set their own).

Prints one JSON line:
  images           images the pass returned
  seconds          wall time from creating the DataLoader iterator to the last batch, worker
                   start-up included (what a user waits for)
  seconds_warm     from the first batch's arrival to the last: the steady rate without worker
                   start-up and the first batch's latency
  images_per_s     images / seconds
  images_per_s_warm (images - first batch) / seconds_warm
  max_rss_mib      peak RSS of this process, and the largest of its worker processes
"""

import argparse
import json
import resource
import time

import PIL
from PIL import features
import torch
import torchvision
from torch.utils.data import DataLoader, Subset
from torchvision import datasets, transforms


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("dir")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--limit", type=int, default=0, help="first N files only (0: all)")
    a = p.parse_args()

    tf = transforms.Compose(
        [transforms.Resize(a.size), transforms.CenterCrop(a.size), transforms.ToTensor()]
    )
    ds = datasets.ImageFolder(a.dir, transform=tf)
    if a.limit:
        ds = Subset(ds, range(min(a.limit, len(ds))))
    loader = DataLoader(ds, batch_size=a.batch, num_workers=a.workers, shuffle=False)

    t0 = time.perf_counter()
    it = iter(loader)
    images = 0
    first_batch = 0
    t_first = None
    for x, _ in it:
        if t_first is None:
            t_first = time.perf_counter()
            first_batch = x.shape[0]
        images += x.shape[0]
    t1 = time.perf_counter()
    assert x.shape[1:] == (3, a.size, a.size), x.shape

    seconds = t1 - t0
    warm = t1 - t_first
    print(
        json.dumps(
            {
                "what": "torchvision ImageFolder + DataLoader",
                "size": a.size,
                "workers": a.workers,
                "batch": a.batch,
                "torch_threads": torch.get_num_threads(),
                "versions": {
                    "torch": torch.__version__,
                    "torchvision": torchvision.__version__,
                    "PIL": PIL.__version__,
                    "libjpeg_turbo": features.version("libjpeg_turbo"),
                },
                "images": images,
                "seconds": round(seconds, 3),
                "seconds_warm": round(warm, 3),
                "images_per_s": round(images / seconds, 1),
                "images_per_s_warm": round((images - first_batch) / warm, 1) if warm > 0 else None,
                "max_rss_mib": {
                    "main": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                    "largest_worker": round(
                        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1
                    ),
                },
            }
        )
    )


if __name__ == "__main__":
    main()
