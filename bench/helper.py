#!/usr/bin/env python3
"""Helpers for bench/run.sh (standard library only).

  helper.py tags URL TOKEN DATASET N OUT.tsv   create the 9 extra tags via the API;
                                                write "name<TAB>count" of all 10 tags
  helper.py tree DIR N TAGS.tsv                 one dir per tag under DIR holding the same
                                                (empty, hard-linked) files
  helper.py statloop PATH CALLS                 per-call os.stat time in microseconds
  helper.py median V...                         median of the values
  helper.py namebytes N                         total bytes of the N sample names
  helper.py cputime CMD...                      "WALL CPU" seconds of CMD, CPU its own
                                                user + system time
  helper.py stats BASE                          the emulator's request counters as
                                                "TOTAL<TAB>MAPPINGS<TAB>TAGS<TAB>summary"
"""
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
import urllib.request

NAME_FMT = "sample_%07d.jpg"  # the emulator's --dataset NAME:N names


def tag_specs(n):
    """(name, selector(i) -> bool) for the 9 tags besides the initial one: mixed sizes."""
    rnd10 = random.Random(10)
    rnd1 = random.Random(1)
    rand10 = set(rnd10.sample(range(n), n // 10))
    rand1 = set(rnd1.sample(range(n), n // 100))
    return [
        ("every-2nd", lambda i: i % 2 == 0),
        ("every-3rd", lambda i: i % 3 == 0),
        ("last-quarter", lambda i: i >= n - n // 4),
        ("first-10pct", lambda i: i < n // 10),
        ("random-10pct", lambda i: i in rand10),
        ("every-20th", lambda i: i % 20 == 0),
        ("random-1pct", lambda i: i in rand1),
        ("every-1000th", lambda i: i % 1000 == 0),
        ("first-100", lambda i: i < 100),
    ]


def to_mask(n, sel):
    """bitMaskData: bit i (LSB first) set when sample i is in the tag."""
    bits = "".join("1" if sel(i) else "0" for i in range(n - 1, -1, -1))
    value = int(bits, 2) if bits else 0
    return hex(value), bits.count("1")


def api(url, method="GET", body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as resp:
        return json.loads(resp.read() or b"null")


def cmd_tags(base, token, ds_id, n, out):
    n = int(n)
    tags = api("%s/v1/datasets/%s/tags?token=%s" % (base, ds_id, token))
    initial = [t for t in tags if t.get("prevTagId") is None][0]
    rows = [(initial["name"], n)]
    existing = {t["name"] for t in tags}
    for name, sel in tag_specs(n):
        mask, count = to_mask(n, sel)
        if name not in existing:
            api("%s/v1/datasets/%s/tags?token=%s" % (base, ds_id, token), "POST",
                {"name": name, "prevTagId": initial["id"], "bitMaskData": mask, "totSize": n})
        rows.append((name, count))
    with open(out, "w") as f:
        for name, count in rows:
            f.write("%s\t%d\n" % (name, count))


def cmd_tree(root, n, tags_tsv):
    n = int(n)
    names = [NAME_FMT % i for i in range(n)]
    rows = [line.rstrip("\n").split("\t") for line in open(tags_tsv) if line.strip()]
    sels = dict(tag_specs(n))
    first = os.path.join(root, rows[0][0])
    os.mkdir(first)
    os.chdir(first)
    for name in names:  # the initial tag holds every sample: real files
        os.mknod(name, 0o444 | 0o100000)
    for tag, _count in rows[1:]:
        d = os.path.join(root, tag)
        os.mkdir(d)
        sel = sels[tag]
        for i, name in enumerate(names):  # the others: hard links, as lightlyfs shows them
            if sel(i):
                os.link(name, os.path.join(d, name))


def cmd_statloop(path, calls):
    calls = int(calls)
    st = os.stat
    st(path)
    t0 = time.perf_counter()
    for _ in range(calls):
        st(path)
    t1 = time.perf_counter()
    # subtract the loop's own cost (same loop, a no-op call)
    nop = len
    t2 = time.perf_counter()
    for _ in range(calls):
        nop(path)
    t3 = time.perf_counter()
    print("%.3f" % (((t1 - t0) - (t3 - t2)) / calls * 1e6))


def cmd_median(*values):
    vals = [float(v) for v in values]
    print("%.6f" % statistics.median(vals) if vals else "nan")


def cmd_stats(base):
    snap = api(base + "/_emulator/stats")
    routes = snap.get("routes", {})
    def short(route):
        method, _, path = route.partition(" ")
        last = path.rstrip("/").rsplit("/", 1)[-1]
        return last if method == "GET" else "%s %s" % (method, last)
    count = lambda suffix: sum(v for k, v in routes.items() if k == "GET /v1/datasets/{datasetId}/" + suffix)
    parts = ["%d %s" % (v, short(k)) for k, v in sorted(routes.items(), key=lambda kv: -kv[1])]
    print("%d\t%d\t%d\t%s" % (snap.get("total", 0), count("mappings"), count("tags"),
                              " + ".join(parts) if parts else "0"))


def cmd_cputime(*cmd):
    """Runs cmd (stdout to /dev/null): 'WALL CPU' in seconds, CPU being the
    user + system time of the command itself (for ls, what the kernel spends
    on its behalf, whatever the filesystem daemon does)."""
    t0 = time.perf_counter()
    rc = subprocess.run(cmd, stdout=subprocess.DEVNULL).returncode
    wall = time.perf_counter() - t0
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    print("%.6f %.6f" % (wall, ru.ru_utime + ru.ru_stime))
    sys.exit(rc)


def cmd_namebytes(n):
    print(sum(len((NAME_FMT % i).encode()) for i in range(int(n))))


def main(argv):
    cmds = {"tags": cmd_tags, "tree": cmd_tree, "statloop": cmd_statloop, "median": cmd_median,
            "stats": cmd_stats, "namebytes": cmd_namebytes, "cputime": cmd_cputime}
    if len(argv) < 2 or argv[1] not in cmds:
        sys.exit(__doc__)
    cmds[argv[1]](*argv[2:])


if __name__ == "__main__":
    main(sys.argv)
