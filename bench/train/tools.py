#!/usr/bin/env python3
"""What bench/train.sh does in Python (standard library only).

  tools.py seed EMU TOKEN NAME N CLASSES   a dataset of N samples named
                                           class_X/img_NNNN.png|.jpg over CLASSES
                                           class folders, 8 KiB .. 1 MiB
                                           (log-uniform, fixed seed), and its
                                           initial tag; prints the dataset's id
  tools.py curlcfg EMU TOKEN DS OUTDIR CFG the read URLs of DS's initial tag from
                                           the export endpoint (filenamesAndReadUrls,
                                           paged, fetched undelayed) as a curl -K
                                           config writing OUTDIR/<fileName>; prints
                                           the count and the total MiB
"""
import json
import random
import sys
import urllib.request

MIB = 1 << 20


def api(emu, token, method, path, body=None):
    sep = "&" if "?" in path else "?"
    req = urllib.request.Request(
        "%s%s%stoken=%s" % (emu, path, sep, token), method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as f:
        data = f.read()
    return json.loads(data) if data else None


def seed(emu, token, name, n, classes):
    rng = random.Random(23)
    ds = api(emu, token, "POST", "/v1/datasets", {"name": name})["id"]
    for i in range(n):
        cls = "class_%s" % chr(ord("a") + i % classes)
        ext = "png" if i % 2 else "jpg"
        size = int(8192 * (128 ** rng.random()))
        api(emu, token, "POST", "/v1/datasets/%s/samples" % ds,
            {"fileName": "%s/img_%04d.%s" % (cls, i, ext),
             "metaData": {"sizeInBytes": size}})
    api(emu, token, "POST", "/v1/datasets/%s/tags/initial" % ds,
        {"imgType": "full", "name": "initial-tag"})
    print(ds)


def curlcfg(emu, token, ds, outdir, cfg):
    tag = next(t["id"] for t in api(emu, token, "GET", "/v1/datasets/%s/tags" % ds)
               if t["name"] == "initial-tag")
    sizes = {s["fileName"]: s["metaData"]["sizeInBytes"]
             for s in api(emu, token, "GET", "/v1/datasets/%s/samples" % ds)}
    rows, off = [], 0
    while True:
        page = api(emu, token, "GET",
                   "/v1/datasets/%s/tags/%s/export/basic/filenamesAndReadUrls"
                   "?pageSize=1000&pageOffset=%d" % (ds, tag, off))
        if not page:
            break
        rows += page
        off += len(page)
    with open(cfg, "w") as f:
        for r in rows:
            f.write('url = "%s"\noutput = "%s/%s"\n' % (r["readUrl"], outdir, r["fileName"]))
    print(len(rows), "%.1f" % (sum(sizes.get(r["fileName"], 0) for r in rows) / MIB))


def main(argv):
    cmd, args = argv[1], argv[2:]
    if cmd == "seed":
        seed(args[0], args[1], args[2], int(args[3]), int(args[4]))
    elif cmd == "curlcfg":
        curlcfg(*args)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
