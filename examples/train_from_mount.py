#!/usr/bin/env python3
"""Train straight from a lightlyfs mount (issue 23).

    python3 examples/train_from_mount.py MOUNT/DATASET/TAG [--epochs 2]

The tag folder is read as torchvision's ImageFolder expects: one folder per
class (sample names such as "cats/img_0001.png" show as subdirectories).

What to set on the mount:
  -o content_cache_mb=MB  must exceed the tag's size (default 1024). A
                          shuffled epoch reads the files in a new order every
                          time; a cache smaller than the tag evicts what the
                          next epoch needs, so every epoch downloads again
                          (the mount then also fetches nothing ahead).
  `lightlyfs warmup --check TAG` says how much of the tag is cached;
  `lightlyfs warmup TAG` (run below) fetches the rest in parallel.

Needs torchvision (Debian: apt-get install python3-torchvision).
"""
import argparse
import json
import subprocess
import sys
import time

import torch
from torch.utils.data import DataLoader
from torchvision import datasets, transforms


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("tag", help="the tag folder in the mount, MOUNT/DATASET/TAG")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--size", type=int, default=64, help="images resized to SIZE px")
    p.add_argument("--no-warmup", action="store_true",
                   help="skip `lightlyfs warmup` (also for a plain local folder)")
    p.add_argument("--lightlyfs", default="lightlyfs", help="the lightlyfs command")
    p.add_argument("--json", help="append one JSON line per epoch to this file")
    p.add_argument("--progress", help="rewrite this file with the images done "
                   "in the current epoch after each batch (for monitoring)")
    args = p.parse_args()

    # 1. Fetch the whole tag into the mount's content cache before the first
    #    epoch: many files at once (-o prefetch_files), instead of one
    #    round trip per file as the loader asks for them. It refuses when
    #    the tag is bigger than content_cache_mb.
    if not args.no_warmup:
        t0 = time.monotonic()
        subprocess.run([args.lightlyfs, "warmup", args.tag], check=True)
        print("warm-up: %.2f s" % (time.monotonic() - t0), flush=True)

    # 2. An ordinary ImageFolder + DataLoader; nothing lightlyfs-specific.
    tf = transforms.Compose([
        transforms.Resize((args.size, args.size)),
        transforms.ToTensor(),
    ])
    data = datasets.ImageFolder(args.tag, transform=tf)
    loader = DataLoader(data, batch_size=args.batch_size, shuffle=True,
                        num_workers=args.workers)
    # A trivial model: the point is the data path, not the training.
    model = torch.nn.Sequential(torch.nn.Flatten(),
                                torch.nn.Linear(3 * args.size * args.size,
                                                len(data.classes)))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)

    failed = False
    for epoch in range(1, args.epochs + 1):
        t0, seen, error = time.monotonic(), 0, None
        try:
            for x, y in loader:
                opt.zero_grad()
                loss = torch.nn.functional.cross_entropy(model(x), y)
                loss.backward()
                opt.step()
                seen += len(y)
                if args.progress:
                    with open(args.progress, "w") as f:
                        f.write("%d\n" % seen)
        except Exception as e:  # a read that failed (EIO, ENETDOWN) lands here
            error = "%s: %s" % (type(e).__name__, str(e).strip().splitlines()[-1]
                                if str(e).strip() else "")
            failed = True
        dt = time.monotonic() - t0
        print("epoch %d: %d of %d images in %.2f s (%.0f images/s)%s"
              % (epoch, seen, len(data), dt, seen / dt if dt else 0,
                 "; FAILED: " + error if error else ""), flush=True)
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps({"epoch": epoch, "seconds": round(dt, 3),
                                    "images": seen, "total": len(data),
                                    "error": error}) + "\n")
        if error:
            break
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
