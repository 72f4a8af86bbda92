#!/usr/bin/python3
"""Randomized, stateful model test of lightlyfs against real mounts.

One emulator (scripts/lightly_emulator.py) on a free port, two daemons
mounting the same account (each its own mountpoint, state and cache dir), and
a reference model: for each tag of a dataset, the set of sample names it
holds.  Hypothesis (Debian's python3-hypothesis, run with /usr/bin/python3)
draws sequences of edits made through either mount or straight through the
API, and checks after every step that the server holds what the model says,
and at quiet points that each mount lists what the server holds.

The rule the model follows is "per-sample last writer wins": an edit anywhere
never undoes another writer's edit of a different sample; when two writers
change the same sample at the same moment, either outcome is accepted (the
rule reads the server's answer for that one sample and the model adopts it).

Every example works in a dataset of its own (same samples, same tags), so
examples do not see each other's leftovers and a shrunk sequence replays from
the same start.

Environment:
  LIGHTLYFS_BIN        the daemon (default build/lightlyfs)
  MODEL_SEED           run only this seed (replay); default: a fixed seed and a random one
  MODEL_EXAMPLES       examples per seed (default 20)
  MODEL_STEPS          most steps per example (default 20)
  MODEL_BUDGET_S       seconds per seed for exploring and shrinking (default 100);
                       past it, new examples are skipped and the shrunk failure
                       found so far is reported
  MODEL_QUIET_EVERY    quiet point (mounts compared with the server) every N steps (default 4)
  MODEL_TTL            the mounts' -o cache_ttl (default 0.5)
  MODEL_FLUSH_MS       the mounts' -o flush_delay_ms (default 100)
  MODEL_RACE_DELAY_MS  in the concurrent rule, the flushes' GET of the tag is
                       answered this late (emulator fault answer_delay_ms), so
                       both mounts read the tag before either writes it; 0: no
                       widening (default 300)
  MODEL_NO_CONCURRENT=1  leave the concurrent rule out
  MODEL_NO_API=1         leave the API writer's rules out
  MODEL_NO_TAGOPS=1      leave mkdir, rmdir/rm -r and tag renames (mount and API) out
  MODEL_NO_MKDIR=1       leave the mount's mkdir rule out (a known bug: a tag the
                         mount made with mkdir and another writer renamed or
                         deleted right after stays listed well past the TTL)
  MODEL_VERBOSE=1      print every example's steps
  KEEP_LOGS=1          keep the temporary directory (daemon logs) at the end

Exit status 0 when every seed passed, 3 when one failed, and the last line
is 'model: N passed, N failed' (N = seeds).
"""

import atexit
import json
import os
import random
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request

from hypothesis import HealthCheck, Phase, Verbosity, note, settings
from hypothesis import strategies as st
from hypothesis.internal.conjecture.engine import ConjectureRunner, ExitReason
from hypothesis.errors import Unsatisfiable
from hypothesis.stateful import (RuleBasedStateMachine, invariant, precondition,
                                 rule, run_state_machine_as_test)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("LIGHTLYFS_BIN", os.path.join(ROOT, "build", "lightlyfs"))
EMULATOR = os.path.join(ROOT, "scripts", "lightly_emulator.py")
TOKEN = "model-token-%d-secret" % os.getpid()


def env_int(name, default):
    return int(os.environ.get(name, "") or default)


FIXED_SEED = 20240611
EXAMPLES = env_int("MODEL_EXAMPLES", 20)
STEPS = env_int("MODEL_STEPS", 20)
BUDGET_S = float(os.environ.get("MODEL_BUDGET_S", "") or 100)
QUIET_EVERY = env_int("MODEL_QUIET_EVERY", 4)
TTL = float(os.environ.get("MODEL_TTL", "") or 0.5)
FLUSH_MS = env_int("MODEL_FLUSH_MS", 100)
RACE_DELAY_MS = env_int("MODEL_RACE_DELAY_MS", 300)
NO_CONCURRENT = os.environ.get("MODEL_NO_CONCURRENT") == "1"
NO_API = os.environ.get("MODEL_NO_API") == "1"
NO_TAGOPS = os.environ.get("MODEL_NO_TAGOPS") == "1"
NO_MKDIR = os.environ.get("MODEL_NO_MKDIR") == "1"
OP_TIMEOUT_S = 20       # one batch of system calls in a worker
SETTLE_TIMEOUT_S = 8    # a mount's pending edits reach the server
MARGIN_S = 0.3          # on top of the TTL before a mount must see others' changes

INITIAL = "initial-tag"
# 40 samples, some in sub-folders (a mount shows them as subdirectories)
SAMPLES = (["a/x%02d.png" % i for i in range(1, 9)] +
           ["a/b/y%02d.jpg" % i for i in range(1, 5)] +
           ["c/z%02d.png" % i for i in range(1, 5)] +
           ["x%02d.png" % i for i in range(1, 25)])
INDEX = {n: i for i, n in enumerate(SAMPLES)}
SEED_TAGS = {"cats": set(SAMPLES[0:12:2]) | {"x03.png", "x10.png"},
             "dogs": {"a/x02.png", "c/z01.png", "x01.png", "x02.png", "x20.png"},
             "review": set()}
NEW_NAMES = ["cats", "dogs", "review", "new-one", "new-two", "new-three"]
MAX_TAGS = 5            # editable tags (the initial tag not counted); < len(NEW_NAMES)


def log(msg):
    print(msg, flush=True)


# --------------------------------------------------------------- a worker
# Every system call on a mount runs in a worker process, so a hung FUSE call
# costs a bounded wait and a killed worker, never a hung test.
WORKER = r'''
import errno, json, os, subprocess, sys, time
def one(op):
    k, a = op[0], op[1:]
    try:
        if k == "link": os.link(a[0], a[1])
        elif k == "unlink": os.unlink(a[0])
        elif k == "rename": os.rename(a[0], a[1])
        elif k == "mkdir": os.mkdir(a[0])
        elif k == "makedirs": os.makedirs(a[0], exist_ok=True)
        elif k == "rmdir": os.rmdir(a[0])
        elif k == "rm-r":
            r = subprocess.run(["rm", "-r", "--", a[0]], capture_output=True, text=True)
            if r.returncode: return {"err": "rm -r exit %d: %s" % (r.returncode, r.stderr.strip()[-300:])}
        elif k == "fsync":
            fd = os.open(a[0], os.O_RDONLY)
            try: os.fsync(fd)
            finally: os.close(fd)
        elif k == "listdir": return {"ok": sorted(os.listdir(a[0]))}
        elif k == "files":
            out = []
            for d, dirs, files in os.walk(a[0], onerror=lambda e: (_ for _ in ()).throw(e)):
                out += [os.path.relpath(os.path.join(d, f), a[0]) for f in files]
            return {"ok": sorted(out)}
        elif k == "read":
            with open(a[0], "rb") as f: return {"ok": f.read().decode("utf-8", "replace")}
        else: return {"err": "unknown op " + k}
        return {"ok": None}
    except OSError as e:
        return {"err": errno.errorcode.get(e.errno, str(e.errno))}
for line in sys.stdin:
    req = json.loads(line)
    if req.get("at"):
        d = req["at"] - time.time()
        if d > 0: time.sleep(d)
    res = [one(op) for op in req["ops"]]
    sys.stdout.write(json.dumps(res) + "\n"); sys.stdout.flush()
'''


class Worker:
    def __init__(self, cwd):
        self.cwd = cwd
        self.proc = None
        self.buf = b""

    def start(self):
        self.proc = subprocess.Popen(["/usr/bin/python3", "-c", WORKER], cwd=self.cwd,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.buf = b""

    def send(self, ops, at=None):
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        self.proc.stdin.write((json.dumps({"ops": ops, "at": at}) + "\n").encode())
        self.proc.stdin.flush()
        self.pending = ops

    def recv(self, timeout=OP_TIMEOUT_S):
        end = time.time() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buf:
            left = end - time.time()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                self.stop()
                raise AssertionError("system calls hung for %d s: %r" % (timeout, self.pending))
            chunk = os.read(fd, 65536)
            if not chunk:
                self.stop()
                raise AssertionError("worker died during %r" % (self.pending,))
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def run(self, ops):
        self.send(ops)
        return self.recv()

    def stop(self):
        if self.proc is not None:
            try:
                self.proc.kill()
            except OSError:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
            self.proc = None


# --------------------------------------------------------------- the world
def in_proc_mounts(path):
    try:
        with open("/proc/mounts") as f:
            return any(l.split()[1] == path for l in f)
    except OSError:
        return False


class World:
    """The emulator, the two mounts and their workers; everything it starts
    it stops (by pid) in close(), which atexit and signals also reach."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="lfs-model.")
        self.emu = None
        self.url = None
        self.mounts = []      # dicts: mnt, proc, log, worker
        self.closed = False
        self.stopping = 0
        self.ds_counter = 0
        self.deadline = None

    # --- emulator and API
    def start_emulator(self):
        out = os.path.join(self.tmp, "emu.out")
        with open(out, "w") as o, open(os.path.join(self.tmp, "emu.err"), "w") as e:
            self.emu = subprocess.Popen(["/usr/bin/python3", EMULATOR, "--port", "0", "--token", TOKEN,
                                         "--state", os.path.join(self.tmp, "state.sqlite")],
                                        stdout=o, stderr=e)
        for _ in range(300):
            with open(out) as f:
                for l in f:
                    if l.startswith("port="):
                        self.url = "http://127.0.0.1:%s" % l.strip()[5:]
                        return
            if self.emu.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError("emulator did not start: " + open(os.path.join(self.tmp, "emu.err")).read())

    def api(self, method, path, body=None, auth=True):
        if auth:
            path += ("&" if "?" in path else "?") + "token=" + TOKEN
        r = urllib.request.Request(self.url + path, method=method,
                                   data=None if body is None else json.dumps(body).encode(),
                                   headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(r, timeout=15) as f:
            data = f.read()
        return json.loads(data) if data else None

    # --- mounts
    def start_mounts(self):
        for k in range(2):
            base = os.path.join(self.tmp, "m%d-%d" % (k, time.monotonic_ns()))
            mnt = base + ".mnt"
            for d in (mnt, base + "/state", base + "/cache"):
                os.makedirs(d)
            env = dict(os.environ, LIGHTLY_TOKEN=TOKEN, LIGHTLY_SERVER_LOCATION=self.url,
                       XDG_STATE_HOME=base + "/state", XDG_CACHE_HOME=base + "/cache")
            logp = base + ".log"
            with open(logp, "w") as lf:
                proc = subprocess.Popen([BIN, "-f", "-o", "cache_ttl=%g,flush_delay_ms=%d" % (TTL, FLUSH_MS),
                                         mnt], env=env, stdout=lf, stderr=lf, stdin=subprocess.DEVNULL)
            m = {"mnt": mnt, "proc": proc, "log": logp, "worker": Worker(self.tmp)}
            self.mounts.append(m)
            for _ in range(100):
                if in_proc_mounts(mnt) or proc.poll() is not None:
                    break
                time.sleep(0.1)
            if not in_proc_mounts(mnt):
                raise RuntimeError("mount %d failed: %s" % (k, open(logp).read()[-2000:]))

    def stop_mounts(self):
        for m in self.mounts:
            m["worker"].stop()
            if in_proc_mounts(m["mnt"]):
                subprocess.run(["fusermount3", "-u", m["mnt"]], timeout=15,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                m["proc"].wait(15)     # it sends what is pending before it exits
            except subprocess.TimeoutExpired:
                m["proc"].kill()
                m["proc"].wait(5)
            if in_proc_mounts(m["mnt"]):
                subprocess.run(["fusermount3", "-uz", m["mnt"]], timeout=15,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                os.rmdir(m["mnt"])
            except OSError:
                pass
        self.mounts = []

    def close(self):
        if self.closed:
            return
        self.closed = True
        try:
            self.stop_mounts()
        finally:
            if self.emu is not None and self.emu.poll() is None:
                self.emu.terminate()
                try:
                    self.emu.wait(10)
                except subprocess.TimeoutExpired:
                    self.emu.kill()
                    self.emu.wait(5)
            if os.environ.get("KEEP_LOGS"):
                log("model: logs kept in " + self.tmp)
            else:
                subprocess.run(["rm", "-rf", "--one-file-system", self.tmp], timeout=30)


W = None


# --------------------------------------------------------------- helpers
def hexmask(names):
    v = 0
    for n in names:
        v |= 1 << INDEX[n]
    return hex(v)


def pick(i, seq):
    seq = sorted(seq)
    return seq[i % len(seq)]


class LightlyModel(RuleBasedStateMachine):
    """Model: self.tags maps each tag name of this example's dataset to its
    set of sample names; the initial tag holds every sample."""

    def __init__(self):
        super().__init__()
        W.ds_counter += 1
        self.ds = "model-%03d" % W.ds_counter
        self.ds_id = W.api("POST", "/v1/datasets", {"name": self.ds})["id"]
        W.api("POST", "/_emulator/datasets/%s/samples" % self.ds_id, {"fileNames": SAMPLES}, auth=False)
        init = W.api("POST", "/v1/datasets/%s/tags/initial" % self.ds_id,
                     {"imgType": "full", "name": INITIAL})["id"]
        self.initial_id = init
        for name, s in SEED_TAGS.items():
            W.api("POST", "/v1/datasets/%s/tags" % self.ds_id,
                  {"name": name, "prevTagId": init, "bitMaskData": hexmask(s), "totSize": len(SAMPLES)})
        self.tags = {INITIAL: set(SAMPLES)}
        self.tags.update({k: set(v) for k, v in SEED_TAGS.items()})
        now = time.time()
        self.changed = [now, now]   # when each mount last had a change by someone else
        self.steps = 0
        W.examples += 1

    # --- plumbing
    def mnt(self, m, *parts):
        return os.path.join(W.mounts[m]["mnt"], self.ds, *parts)

    def worker(self, m):
        return W.mounts[m]["worker"]

    def fresh(self, m):
        """Wait until mount m's caches can no longer hide others' changes."""
        d = self.changed[m] + TTL + MARGIN_S - time.time()
        if d > 0:
            time.sleep(d)

    def by(self, m):
        """A change was made through mount m (None: through the API)."""
        now = time.time()
        for k in (0, 1):
            if k != m:
                self.changed[k] = now

    def do(self, m, ops):
        self.fresh(m)
        res = self.worker(m).run(ops)
        note("mount%d %s -> %s" % (m, self.short(ops), self.short(res)))
        return res

    def short(self, x):
        s = json.dumps(x)
        for m in (0, 1):
            s = s.replace(W.mounts[m]["mnt"] + "/", "M%d:" % m)
        return s

    def expect(self, res, want, what):
        got = res.get("err", "OK")
        assert got == want, "%s: got %s, expected %s" % (what, got, want)

    def free_names(self):
        return [x for x in NEW_NAMES if x not in self.tags]

    def editable(self):
        return [t for t in self.tags if t != INITIAL]

    def settle(self, m):
        """Mount m's pending edits reached the server (its stats say so)."""
        end = time.time() + SETTLE_TIMEOUT_S
        stats = os.path.join(W.mounts[m]["mnt"], ".lightly", "stats")
        while True:
            r = self.worker(m).run([["read", stats]])[0]
            assert "ok" in r, "mount%d: reading .lightly/stats: %s" % (m, r)
            e = json.loads(r["ok"])["edits"]
            busy = e["tagsPending"] + e["tagsInFlight"] + e["tagsRetrying"] + e["movesWaiting"]
            if busy == 0:
                return
            assert time.time() < end, "mount%d: edits still pending after %d s: %r" % (
                m, SETTLE_TIMEOUT_S, e)
            time.sleep(0.05)

    def server_tags(self):
        names = W.api("GET", "/v1/datasets/%s/mappings?field=fileName" % self.ds_id)
        out = {}
        for t in W.api("GET", "/v1/datasets/%s/tags" % self.ds_id):
            v = int(t["bitMaskData"], 16)
            out[t["name"]] = {names[i] for i in range(len(names)) if v >> i & 1}
        return out

    def server_tag(self, name):
        for t in W.api("GET", "/v1/datasets/%s/tags" % self.ds_id):
            if t["name"] == name:
                return t
        raise AssertionError("tag %s is not on the server" % name)

    def sync_ops(self, m, tags):
        return [["fsync", self.mnt(m, t)] for t in tags]

    # --- mount edits
    @precondition(lambda self: self.editable())
    @rule(m=st.integers(0, 1), sample=st.sampled_from(SAMPLES), t=st.integers(0, 15), sync=st.booleans())
    def ln(self, m, sample, t, sync):
        """ln DS/initial-tag/S DS/T/ (mkdir -p of S's folder under T first)"""
        tag = pick(t, self.editable())
        dst = self.mnt(m, tag, sample)
        ops = [["makedirs", os.path.dirname(dst)], ["link", self.mnt(m, INITIAL, sample), dst]]
        res = self.do(m, ops + (self.sync_ops(m, [tag]) if sync else []))
        self.expect(res[1], "EEXIST" if sample in self.tags[tag] else "OK", "ln %s into %s" % (sample, tag))
        if sync:
            self.expect(res[2], "OK", "fsync %s" % tag)
        if sample not in self.tags[tag]:
            self.tags[tag].add(sample)
            self.by(m)

    @precondition(lambda self: self.editable())
    @rule(m=st.integers(0, 1), sample=st.sampled_from(SAMPLES), t=st.integers(0, 15), sync=st.booleans())
    def rm(self, m, sample, t, sync):
        """rm DS/T/S"""
        tag = pick(t, self.editable())
        res = self.do(m, [["unlink", self.mnt(m, tag, sample)]] + (self.sync_ops(m, [tag]) if sync else []))
        self.expect(res[0], "OK" if sample in self.tags[tag] else "ENOENT", "rm %s from %s" % (sample, tag))
        if sync:
            self.expect(res[1], "OK", "fsync %s" % tag)
        if sample in self.tags[tag]:
            self.tags[tag].discard(sample)
            self.by(m)

    @precondition(lambda self: len(self.editable()) >= 2 and any(self.tags[t] for t in self.editable()))
    @rule(m=st.integers(0, 1), k=st.integers(0, 63), t=st.integers(0, 15), u=st.integers(0, 15),
          sync=st.booleans())
    def mv_sample(self, m, k, t, u, sync):
        """mv DS/A/S DS/B/ where S is in A and not in B"""
        src = pick(t, [x for x in self.editable() if self.tags[x]])
        dsts = [x for x in self.editable() if x != src]
        dst = pick(u, dsts)
        cands = sorted(self.tags[src] - self.tags[dst])
        if not cands:
            return
        sample = cands[k % len(cands)]
        to = self.mnt(m, dst, sample)
        res = self.do(m, [["makedirs", os.path.dirname(to)], ["rename", self.mnt(m, src, sample), to]] +
                      (self.sync_ops(m, [dst, src]) if sync else []))
        self.expect(res[1], "OK", "mv %s from %s to %s" % (sample, src, dst))
        if sync:
            self.expect(res[2], "OK", "fsync %s" % dst)
            self.expect(res[3], "OK", "fsync %s" % src)
        self.tags[src].discard(sample)
        self.tags[dst].add(sample)
        self.by(m)

    # --- the reported bug: both mounts edit one tag at the same moment
    @precondition(lambda self: not NO_CONCURRENT and self.editable())
    @rule(t=st.integers(0, 15), s0=st.sampled_from(SAMPLES), s1=st.sampled_from(SAMPLES),
          add0=st.booleans(), add1=st.booleans(), sync=st.booleans())
    def concurrent(self, t, s0, s1, add0, add1, sync):
        """mount0 and mount1 each ln (add) or rm a sample of the same tag at
        the same moment; their sends overlap"""
        tag = pick(t, self.editable())
        self.fresh(0)
        self.fresh(1)
        plan = []
        for m, s, add in ((0, s0, add0), (1, s1, add1)):
            if add:
                dst = self.mnt(m, tag, s)
                ops = [["makedirs", os.path.dirname(dst)], ["link", self.mnt(m, INITIAL, s), dst]]
                want = "EEXIST" if s in self.tags[tag] else "OK"
            else:
                ops = [["unlink", self.mnt(m, tag, s)]]
                want = "OK" if s in self.tags[tag] else "ENOENT"
            plan.append((m, s, add, ops, want))
        if RACE_DELAY_MS > 0:   # both flushes read the tag before either writes it
            W.api("POST", "/_emulator/faults", {"match": "GET /v1/datasets/{datasetId}/tags/{tagId}",
                                                "answer_delay_ms": RACE_DELAY_MS, "count": 2}, auth=False)
        try:
            at = time.time() + 0.05
            for m, s, add, ops, want in plan:
                self.worker(m).send(ops, at=at)
            results = [self.worker(m).recv() for m, *_ in plan]
            if sync:
                at = time.time() + 0.02
                for m, *_ in plan:
                    self.worker(m).send(self.sync_ops(m, [tag]), at=at)
                syncs = [self.worker(m).recv() for m, *_ in plan]
            note("concurrent on %s: %s -> %s" % (tag, self.short([p[3] for p in plan]), self.short(results)))
            for (m, s, add, ops, want), res in zip(plan, results):
                self.expect(res[-1], want, "mount%d %s %s in %s" % (m, "ln" if add else "rm", s, tag))
            if sync:
                for (m, *_), res in zip(plan, syncs):
                    self.expect(res[0], "OK", "mount%d fsync %s" % (m, tag))
            self.settle(0)
            self.settle(1)
        finally:
            if RACE_DELAY_MS > 0:
                W.api("DELETE", "/_emulator/faults", auth=False)
        before = set(self.tags[tag])
        for m, s, add, ops, want in plan:
            if want == "OK":
                (self.tags[tag].add if add else self.tags[tag].discard)(s)
        # same sample, opposite changes that both applied: either outcome is
        # right; the server's answer is adopted.  (Both mounts act on fresh
        # views, so ln and rm of one sample never both apply today; kept
        # for rules that make them.)
        if s0 == s1 and add0 != add1 and all(p[4] == "OK" for p in plan):
            got = s0 in self.server_tags().get(tag, set())
            note("same sample %s both ways in %s: server kept %s" % (s0, tag, got))
            (self.tags[tag].add if got else self.tags[tag].discard)(s0)
        if self.tags[tag] != before:
            self.changed = [time.time(), time.time()]

    # --- tags through a mount
    @precondition(lambda self: not NO_TAGOPS and not NO_MKDIR and len(self.editable()) < MAX_TAGS)
    @rule(m=st.integers(0, 1), n=st.integers(0, 15))
    def mkdir(self, m, n):
        """mkdir DS/NEW"""
        name = pick(n, self.free_names())
        res = self.do(m, [["mkdir", self.mnt(m, name)]])
        self.expect(res[0], "OK", "mkdir %s" % name)
        self.tags[name] = set()
        self.by(m)

    @precondition(lambda self: not NO_TAGOPS and self.editable())
    @rule(m=st.integers(0, 1), t=st.integers(0, 15), plain=st.booleans())
    def rmtag(self, m, t, plain):
        """rmdir DS/T when T is empty and plain, else rm -r DS/T"""
        tag = pick(t, self.editable())
        p = self.mnt(m, tag)
        if plain and not self.tags[tag]:
            res = self.do(m, [["rmdir", p]])
            if res[0].get("err") == "ENOTEMPTY":
                # only folders this mount made or kept (mkdir -p, emptied by rm) may be left
                left = self.do(m, [["files", p]])[0]
                assert left.get("ok") == [], "rmdir %s: ENOTEMPTY with files %r" % (tag, left)
                res = self.do(m, [["rm-r", p]])
            self.expect(res[0], "OK", "rmdir %s" % tag)
        else:
            res = self.do(m, [["rm-r", p]])
            self.expect(res[0], "OK", "rm -r %s" % tag)
        del self.tags[tag]
        self.by(m)

    @precondition(lambda self: not NO_TAGOPS and self.editable() and self.free_names())
    @rule(m=st.integers(0, 1), t=st.integers(0, 15), n=st.integers(0, 15))
    def rename_tag(self, m, t, n):
        """mv DS/T DS/U (U is no tag)"""
        tag = pick(t, self.editable())
        name = pick(n, self.free_names())
        res = self.do(m, [["rename", self.mnt(m, tag), self.mnt(m, name)]])
        self.expect(res[0], "OK", "mv %s %s" % (tag, name))
        self.tags[name] = self.tags.pop(tag)
        self.by(m)

    # --- another writer: the API
    @precondition(lambda self: not NO_API and self.editable())
    @rule(t=st.integers(0, 15), sample=st.sampled_from(SAMPLES))
    def api_flip(self, t, sample):
        """GET the tag, flip one sample's bit, PUT {name, bitMaskData}"""
        tag = pick(t, self.editable())
        j = self.server_tag(tag)
        v = int(j["bitMaskData"], 16) ^ (1 << INDEX[sample])
        note("api: %s %s %s" % (tag, "+" if v >> INDEX[sample] & 1 else "-", sample))
        W.api("PUT", "/v1/datasets/%s/tags/%s" % (self.ds_id, j["id"]), {"name": tag, "bitMaskData": hex(v)})
        self.tags[tag] ^= {sample}
        self.by(None)

    @precondition(lambda self: not NO_API and not NO_TAGOPS and len(self.editable()) < MAX_TAGS)
    @rule(n=st.integers(0, 15), members=st.sets(st.sampled_from(SAMPLES), max_size=4))
    def api_create(self, n, members):
        """POST a tag (child of the initial tag) holding some samples"""
        name = pick(n, self.free_names())
        W.api("POST", "/v1/datasets/%s/tags" % self.ds_id,
              {"name": name, "prevTagId": self.initial_id, "bitMaskData": hexmask(members),
               "totSize": len(SAMPLES)})
        self.tags[name] = set(members)
        self.by(None)

    @precondition(lambda self: not NO_API and not NO_TAGOPS and self.editable())
    @rule(t=st.integers(0, 15))
    def api_delete(self, t):
        """DELETE a tag"""
        tag = pick(t, self.editable())
        W.api("DELETE", "/v1/datasets/%s/tags/%s" % (self.ds_id, self.server_tag(tag)["id"]))
        del self.tags[tag]
        self.by(None)

    @precondition(lambda self: not NO_API and not NO_TAGOPS and self.editable() and self.free_names())
    @rule(t=st.integers(0, 15), n=st.integers(0, 15))
    def api_rename(self, t, n):
        """PUT {name: NEW} (the mask left as it is)"""
        tag = pick(t, self.editable())
        name = pick(n, self.free_names())
        W.api("PUT", "/v1/datasets/%s/tags/%s" % (self.ds_id, self.server_tag(tag)["id"]), {"name": name})
        self.tags[name] = self.tags.pop(tag)
        self.by(None)

    # --- checks
    @rule()
    def quiet_point(self):
        self.quiet()

    def quiet(self):
        """Both mounts settled and past the TTL: each lists what the server holds."""
        W.quiets += 1
        self.settle(0)
        self.settle(1)
        server = self.server_tags()
        for m in (0, 1):
            self.fresh(m)
            ops = [["listdir", self.mnt(m)]] + [["files", self.mnt(m, t)] for t in sorted(server)]
            res = self.worker(m).run(ops)
            assert "ok" in res[0], "mount%d: ls %s: %s" % (m, self.ds, res[0])
            shown = sorted(x for x in res[0]["ok"] if not x.startswith("."))
            assert shown == sorted(server), "mount%d lists tags %r, the server has %r" % (
                m, shown, sorted(server))
            for t, r in zip(sorted(server), res[1:]):
                assert "ok" in r, "mount%d: find %s: %s" % (m, t, r)
                got = set(r["ok"])
                assert got == server[t], "mount%d: tag %s lists %s more, %s fewer than the server" % (
                    m, t, sorted(got - server[t]), sorted(server[t] - got))
        for m in (0, 1):
            with open(W.mounts[m]["log"], errors="replace") as f:
                assert TOKEN not in f.read(), "mount%d's log holds the token" % m

    @invariant()
    def server_matches_model(self):
        for m in (0, 1):
            p = W.mounts[m]["proc"]
            assert p.poll() is None, "mount%d's daemon died (status %s): %s" % (
                m, p.returncode, open(W.mounts[m]["log"], errors="replace").read()[-1500:])
        self.settle(0)
        self.settle(1)
        server = self.server_tags()
        assert set(server) == set(self.tags), "server tags %r, model %r" % (sorted(server), sorted(self.tags))
        for t in sorted(server):
            assert server[t] == self.tags[t], "tag %s: server has %s more, %s fewer than the model" % (
                t, sorted(server[t] - self.tags[t]), sorted(self.tags[t] - server[t]))
        self.steps += 1
        W.checks += 1
        if QUIET_EVERY and self.steps > 1 and (self.steps - 1) % QUIET_EVERY == 0:
            self.quiet()


def shrunk_steps(text):
    """Rules in each 'Falsifying example' hypothesis printed (invariant
    checks and teardown not counted)."""
    counts = []
    for block in text.split("Falsifying example:")[1:]:
        n = 0
        for line in block.splitlines():
            line = line.lstrip(" |")
            mt = re.match(r"state\.(\w+)\(", line)
            if mt and mt.group(1) not in ("teardown", "server_matches_model"):
                n += 1
            elif line.startswith("Traceback") or line.startswith("+---"):
                break
        counts.append(n)
    return counts


def stop_at_deadline():
    """Hypothesis 6.67 has no time limit on shrinking: past W.deadline the
    engine ends as if its shrink limit were reached, and reports the smallest
    failing sequence found so far (the final replay still runs)."""
    orig = ConjectureRunner.test_function

    def test_function(self, data):
        if W.deadline is not None and time.time() > W.deadline:
            W.out_of_budget = True
            self.exit_with(ExitReason.very_slow_shrinking)
        return orig(self, data)
    ConjectureRunner.test_function = test_function


def run_seed(s):
    W.deadline = time.time() + BUDGET_S
    W.out_of_budget = False
    W.examples = W.checks = W.quiets = 0
    LightlyModel._hypothesis_internal_use_seed = s
    cfg = settings(max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None, database=None,
                   suppress_health_check=list(HealthCheck), print_blob=False,
                   phases=[Phase.explicit, Phase.generate, Phase.shrink],
                   verbosity=Verbosity.verbose if os.environ.get("MODEL_VERBOSE") else Verbosity.normal)
    W.start_mounts()
    try:
        run_state_machine_as_test(LightlyModel, settings=cfg)
        if W.out_of_budget:
            log("model: seed %d stopped at its budget (MODEL_BUDGET_S=%g)" % (s, BUDGET_S))
        return True
    except Unsatisfiable:
        log("model: seed %d ran out of budget before any example" % s)
        return True
    except Exception as e:
        if W.stopping:      # a signal, which hypothesis may have wrapped: stop
            raise SystemExit(W.stopping)
        text = "".join(traceback.format_exception(e))
        log(text)
        if W.out_of_budget:
            log("model: shrinking stopped at the budget (MODEL_BUDGET_S=%g): the sequences may shrink further"
                % BUDGET_S)
        counts = shrunk_steps(text)
        log("model: seed %d FAILED: %d distinct failure(s); shrunk counterexample(s): %s steps "
            "(replay: MODEL_SEED=%d tests/model/run.sh)" % (s, len(counts), ", ".join(map(str, counts)) or "?", s))
        return False
    finally:
        W.stop_mounts()


def main():
    global W
    if os.environ.get("MODEL_SEED"):
        seeds = [int(os.environ["MODEL_SEED"])]
    else:
        seeds = [FIXED_SEED, random.SystemRandom().randrange(1, 2**31)]
    W = World()
    stop_at_deadline()
    atexit.register(W.close)

    def on_signal(signum, frame):
        W.stopping = 128 + signum
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    passed = failed = 0
    t0 = time.time()
    try:
        W.start_emulator()
        log("model: daemon %s, emulator %s, %d examples x %d steps per seed, budget %g s per seed%s%s%s%s"
            % (BIN, W.url, EXAMPLES, STEPS, BUDGET_S, ", no mkdir rule" if NO_MKDIR else "",
               ", no concurrent rule" if NO_CONCURRENT else "", ", no API writer" if NO_API else "",
               ", no tag ops" if NO_TAGOPS else ""))
        for s in seeds:
            log("model: seed %d (replay: MODEL_SEED=%d tests/model/run.sh)" % (s, s))
            t = time.time()
            ok = run_seed(s)
            log("model: seed %d %s in %.1f s (%d examples, %d steps, %d quiet points)"
                % (s, "passed" if ok else "failed", time.time() - t, W.examples, W.checks - W.examples,
                   W.quiets))
            passed += ok
            failed += not ok
    finally:
        W.close()
    log("model: run took %.1f s" % (time.time() - t0))
    log("model: %d passed, %d failed" % (passed, failed))
    return 3 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
