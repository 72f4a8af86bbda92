#!/usr/bin/env python3
"""Rounds of concurrent writers of one tag, counting lost edits (issue 21).

    /usr/bin/python3 bench/writers.py [--rounds N] [--api-rounds N] [--seed S]

Two mounts of one emulated account edit the tag "shared" at the same moment,
round after round: different samples, the same samples, adds and removes
mixed, sent by fsync at the same instant or by the flush timer, half of the
rounds with both mounts' reads of the tag held until both have read (the
emulator answers them at once and sends them late).  Then a mount against a
writer through the API that reads the tag, flips one other sample and PUTs
the mask, unstamped, as a script or the web app does; and one that stamps
its write and reads it back as a mount does (scripts/tag_edit.py).

After each round the server's tag is compared with what the rule allows:
per sample, the last writer wins; a sample one writer changed must hold that
writer's change, unless the other writer changed it too.  Prints a table:
rounds, lost edits, GETs and PUTs of the tag per flush, rewrites.  A
measurement, not a test: it exits 0 whatever it finds.  BUILD_DIR (default
build) holds the daemon.
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import tag_edit  # noqa: E402
TOKEN = "bench-writers-token"
N = 48
GET_TAG = "GET /v1/datasets/{datasetId}/tags/{tagId}"
PUT_TAG = "PUT /v1/datasets/{datasetId}/tags/{tagId}"


class Emu:
    def __init__(self, work):
        self.out = open(os.path.join(work, "emu.out"), "w+")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "scripts/lightly_emulator.py"),
             "--port", "0", "--token", TOKEN, "--state",
             os.path.join(work, "emu.sqlite")],
            stdout=self.out, stderr=subprocess.DEVNULL)
        for _ in range(300):
            self.out.seek(0)
            text = self.out.read()
            if "port=" in text:
                self.url = "http://127.0.0.1:" + text.split("port=")[1].split()[0]
                return
            time.sleep(0.1)
        raise SystemExit("the emulator did not start")

    def call(self, method, path, body=None, auth=True):
        sep = "&" if "?" in path else "?"
        url = self.url + path + (sep + "token=" + TOKEN if auth else "")
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
        return json.loads(raw) if raw else None

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


class Mount:
    def __init__(self, work, name, emu):
        self.dir = os.path.join(work, name)
        os.makedirs(self.dir)
        env = dict(os.environ, LIGHTLY_TOKEN=TOKEN,
                   LIGHTLY_SERVER_LOCATION=emu.url,
                   XDG_STATE_HOME=os.path.join(work, name + "-state"),
                   XDG_CACHE_HOME=os.path.join(work, name + "-cache"))
        self.log = open(os.path.join(work, name + ".log"), "w")
        binary = os.path.join(ROOT, os.environ.get("BUILD_DIR", "build"),
                              "lightlyfs")
        self.proc = subprocess.Popen(
            [binary, "-f", "-o", "cache_ttl=0.3", "-o", "flush_delay_ms=100",
             self.dir], env=env, stderr=self.log)
        for _ in range(100):
            if os.path.ismount(self.dir):
                return
            time.sleep(0.1)
        raise SystemExit("the mount did not start")

    def tag(self):
        return os.path.join(self.dir, "bench", "shared")

    def settled(self):
        """Waits until the mount has no edit pending (its stats say)."""
        for _ in range(200):
            with open(os.path.join(self.dir, ".lightly", "stats")) as f:
                e = json.load(f)["edits"]
            if not (e["tagsPending"] or e["tagsInFlight"] or e["tagsRetrying"]):
                return
            time.sleep(0.05)

    def stop(self):
        subprocess.run(["fusermount3", "-u", self.dir], check=False)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def server_set(emu, ds, tag):
    names = emu.call("GET", "/v1/datasets/%s/tags/%s/filenames" % (ds, tag))
    return set(names)


def edit(mount, name, on):
    path = os.path.join(mount.tag(), name)
    try:
        if on:
            os.link(os.path.join(mount.dir, "bench", "initial-tag", name), path)
        else:
            os.unlink(path)
    except OSError:
        pass  # already so in this mount's view: nothing to send


def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# past the mounts' cache TTL: each round starts from what the server holds
SETTLE_S = 0.35


def round_two(emu, ds, tag, mounts, rng, stats):
    time.sleep(SETTLE_S)
    before = server_set(emu, ds, tag)
    for m in mounts:  # both see the state the round starts from
        os.listdir(m.tag())
    names = ["s%02d.png" % i for i in range(N)]
    kind = rng.choice(["different", "same", "mixed"])
    picks = rng.sample(names, 4)
    if kind == "different":
        plan = [[(picks[0], rng.random() < 0.5)], [(picks[1], rng.random() < 0.5)]]
    elif kind == "same":
        plan = [[(picks[0], rng.random() < 0.5)], [(picks[0], rng.random() < 0.5)]]
    else:
        plan = [[(picks[0], True), (picks[2], False)],
                [(picks[1], False), (picks[0], rng.random() < 0.5)]]
    held = rng.random() < 0.5
    by_fsync = rng.random() < 0.5
    if held:
        emu.call("POST", "/_emulator/faults",
                 {"match": GET_TAG, "answer_delay_ms": 300, "count": 2}, auth=False)
    threads = [threading.Thread(target=lambda m=m, p=p: [edit(m, n, on) for n, on in p])
               for m, p in zip(mounts, plan)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if by_fsync:
        threads = [threading.Thread(target=fsync_dir, args=(m.tag(),)) for m in mounts]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    for m in mounts:
        m.settled()
    emu.call("DELETE", "/_emulator/faults", auth=False)
    after = server_set(emu, ds, tag)
    intent = [{n: on for n, on in p} for p in plan]
    lost = 0
    for i, mine in enumerate(intent):
        other = intent[1 - i]
        for n, on in mine.items():
            if n in other:
                continue  # both changed it: either outcome is allowed
            if (n in after) != on:
                lost += 1
    for n in set(names) - set(intent[0]) - set(intent[1]):
        if (n in before) != (n in after):
            lost += 1  # an untouched sample changed
    stats["rounds"] += 1
    stats["lost"] += lost
    stats["held"] += held


def overwrites(mount):
    with open(mount.log.name) as f:
        return f.read().count("were overwritten")


def round_api(emu, ds, tag, mount, rng, stats, stamped):
    names = ["s%02d.png" % i for i in range(N)]
    a, b = rng.sample(names, 2)
    time.sleep(SETTLE_S)
    os.listdir(mount.tag())
    on_a = rng.random() < 0.5
    result = {}
    before = overwrites(mount)

    def api_writer():
        t = emu.call("GET", "/v1/datasets/%s/tags/%s" % (ds, tag))
        idx = names.index(b)
        result["on"] = not (int(t["bitMaskData"], 16) >> idx) & 1
        if stamped:
            api = tag_edit.Api(emu.url, TOKEN)
            r = tag_edit.edit(api, ds, tag, [idx] if result["on"] else [],
                              [] if result["on"] else [idx])
            stats["script_rewrites"] += r["rewrites"]
            return
        bits = int(t["bitMaskData"], 16) ^ 1 << idx
        emu.call("PUT", "/v1/datasets/%s/tags/%s" % (ds, tag),
                 {"name": "shared", "bitMaskData": hex(bits)})

    w = threading.Thread(target=api_writer)
    edit(mount, a, on_a)
    w.start()
    fsync_dir(mount.tag())
    w.join()
    mount.settled()
    after = server_set(emu, ds, tag)
    # the writer's PUT landed between the mount's read and its write: the
    # mount's read-back saw it and logged it (nothing can redo it)
    inside = overwrites(mount) > before
    stats["rounds"] += 1
    stats["inside"] += inside
    stats["mount_lost"] += (a in after) != on_a
    lost = (b in after) != result["on"]
    stats["api_lost"] += lost
    stats["api_lost_outside"] += lost and not inside


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--api-rounds", type=int, default=200)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    args = ap.parse_args()
    rng = random.Random(args.seed)
    work = tempfile.mkdtemp(prefix="lfs-writers.")
    emu = Emu(work)
    mounts = []
    try:
        ds = emu.call("POST", "/v1/datasets", {"name": "bench"})["id"]
        emu.call("POST", "/_emulator/datasets/%s/samples" % ds,
                 {"fileNames": ["s%02d.png" % i for i in range(N)]}, auth=False)
        init = emu.call("POST", "/v1/datasets/%s/tags/initial" % ds,
                        {"imgType": "full", "name": "initial-tag"})["id"]
        tag = emu.call("POST", "/v1/datasets/%s/tags" % ds,
                       {"name": "shared", "prevTagId": init,
                        "bitMaskData": hex((1 << (N // 2)) - 1), "totSize": N})["id"]
        mounts = [Mount(work, "a", emu), Mount(work, "b", emu)]
        emu.call("POST", "/_emulator/stats/reset", auth=False)
        two = {"rounds": 0, "lost": 0, "held": 0}
        t0 = time.time()
        for _ in range(args.rounds):
            round_two(emu, ds, tag, mounts, rng, two)
        t_two = time.time() - t0
        redone = sum(
            open(os.path.join(work, n + ".log")).read().count("written again")
            for n in ("a", "b"))
        routes = emu.call("GET", "/_emulator/stats", auth=False)["routes"]
        g2, p2 = routes.get(GET_TAG, 0), routes.get(PUT_TAG, 0)
        emu.call("POST", "/_emulator/stats/reset", auth=False)
        api = {"rounds": 0, "mount_lost": 0, "api_lost": 0, "inside": 0,
               "api_lost_outside": 0, "script_rewrites": 0}
        t0 = time.time()
        for _ in range(args.api_rounds):
            round_api(emu, ds, tag, mounts[0], rng, api, False)
        t_api = time.time() - t0
        st = {"rounds": 0, "mount_lost": 0, "api_lost": 0, "inside": 0,
              "api_lost_outside": 0, "script_rewrites": 0}
        emu.call("POST", "/_emulator/stats/reset", auth=False)
        t0 = time.time()
        for _ in range(args.api_rounds):
            round_api(emu, ds, tag, mounts[0], rng, st, True)
        t_st = time.time() - t0
        routes = emu.call("GET", "/_emulator/stats", auth=False)["routes"]
        g3, p3 = routes.get(GET_TAG, 0), routes.get(PUT_TAG, 0)
    finally:
        for m in mounts:
            m.stop()
        emu.stop()
    print("# reproduce: /usr/bin/python3 bench/writers.py --rounds %d "
          "--api-rounds %d --seed %d" % (args.rounds, args.api_rounds, args.seed))
    print()
    print("| workload | rounds | lost edits | notes |")
    print("|---|---|---|---|")
    print("| two mounts edit one tag at once (%d of the rounds with both reads "
          "held) | %d | %d | GET %d + PUT %d of the tag (%.2f GETs and %.2f PUTs "
          "per round of two flushes); %d rewrites logged; %.0f s |"
          % (two["held"], two["rounds"], two["lost"], g2, p2,
             g2 / max(two["rounds"], 1), p2 / max(two["rounds"], 1), redone, t_two))
    print("| a mount and an unstamped API writer (GET, flip another sample, PUT) "
          "at once | %d | mount's: %d (undone by the API writer's PUT); the "
          "API writer's: %d, of which %d outside the window no writer can "
          "guard (its PUT landed between the mount's read and write in %d "
          "rounds, each logged) | %.0f s |"
          % (api["rounds"], api["mount_lost"], api["api_lost"],
             api["api_lost_outside"], api["inside"], t_api))
    print("| a mount and a stamped API writer (scripts/tag_edit.py: GET, flip "
          "another sample, stamped PUT, read-back) at once | %d | mount's: %d; "
          "the script's: %d | GET %d + PUT %d of the tag by both; %d script "
          "rewrites; %.0f s |"
          % (st["rounds"], st["mount_lost"], st["api_lost"], g3, p3,
             st["script_rewrites"], t_st))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
