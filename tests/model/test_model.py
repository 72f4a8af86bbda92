#!/usr/bin/python3
"""Randomized, stateful model test of lightlyfs against real mounts.

One emulator (scripts/lightly_emulator.py) on a free port, two daemons
mounting the same account (each its own mountpoint, state and cache dir), and
a reference model: for each tag of a dataset, the set of sample names it
holds and its parent.  Hypothesis (Debian's python3-hypothesis, run with
/usr/bin/python3) draws sequences of edits made through either mount or
straight through the API, and checks after every step that the server holds
what the model says, and at quiet points that each mount lists what the
server holds.  The processes live in world.py.

The rule the model follows is "per-sample last writer wins": an edit anywhere
never undoes another writer's edit of a different sample; when two writers
change the same sample at the same moment, either outcome is accepted (the
rule reads the server's answer for that one sample and the model adopts it).
An edit acknowledged by a mount reaches the server: after the mount's daemon
is killed (-9) and mounted again from its journal, after the server restarts,
and through injected faults.  An edit whose tag another writer deletes first
is dropped: the deleted tag stays deleted (README: "nothing is ever
recreated").

Every example works in a dataset of its own (same samples, same tags), so
examples do not see each other's leftovers and a shrunk sequence replays from
the same start; MODEL_DS_POOL reuses a few datasets instead.

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
  MODEL_REQ_TIMEOUT_S  the mounts' -o timeout (default 2): with the server
                       stopped, a lookup past the TTL waits for its refresh's
                       deadline before the cached answer is given (two of
                       them for a dataset and its tags), so the daemon's
                       30 s would cost a minute of the budget per lookup
  MODEL_RACE_DELAY_MS  in the concurrent rule, the flushes' GET of the tag is
                       answered this late (emulator fault answer_delay_ms), so
                       both mounts read the tag before either writes it; 0: no
                       widening (default 300)
  MODEL_DS_POOL=K      examples take K datasets in turn, reset through the API
                       at the start of each (every tag but the initial one
                       deleted, the seed tags made again), so a long soak
                       makes no more than K datasets; the upsize rule is left
                       out then (the API cannot remove samples).  Default 0:
                       a fresh dataset per example
  MODEL_PROGRESS_S=N   every N s (checked between steps) print 'model: progress
                       t= examples= steps= quiets= ops= rss0_kb= rss1_kb= restarts1=
                       heap0_kb= (mount 0's malloc'ed bytes, from .lightly/stats)'
  MODEL_NO_CONCURRENT=1  leave the concurrent rule out
  MODEL_NO_API=1         leave the API writer's rules out (api_*, upsize, edit_deleted)
  MODEL_NO_TAGOPS=1      leave mkdir, rmdir/rm -r, tag renames (mount and API),
                         arithmetic, restore and edit_deleted out
  MODEL_NO_MKDIR=1       leave the mount's mkdir rule out (a known bug: a tag the
                         mount made with mkdir and another writer renamed or
                         deleted right after stays listed well past the TTL)
  MODEL_NO_CP=1          leave cp of a sample into a tag out
  MODEL_NO_TRASH=1       leave mv DS/.lightly/trash/T DS/T (restore) out
  MODEL_NO_ARITH=1       leave mv DS/A+B (&, ~) DS/NEW out
  MODEL_NO_UPSIZE=1      leave the API's new samples + upsize (mount or API) out
  MODEL_NO_KILL=1        leave kill -9 of mount 1 and its remount out (also in edit_deleted)
  MODEL_NO_EMU_RESTART=1 leave the emulator's restart out
  MODEL_NO_FAULTS=1      leave injected faults on the tag GET/PUT out
  MODEL_NO_DELETED_EDIT=1  leave edits whose tag the API deletes before the flush out
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
import signal
import sys
import time
import traceback

from hypothesis import HealthCheck, Phase, Verbosity, note, settings
from hypothesis import strategies as st
from hypothesis.internal.conjecture.engine import ConjectureRunner, ExitReason
from hypothesis.errors import Flaky, StopTest, Unsatisfiable
from hypothesis.stateful import (RuleBasedStateMachine, invariant, precondition,
                                 rule, run_state_machine_as_test)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import world  # noqa: E402
from config import *  # noqa: E402,F401,F403
from rules_more import MoreRules  # noqa: E402
from world import BIN, TOKEN, World, log  # noqa: E402


W = None


# --------------------------------------------------------------- helpers
def progress(force=False):
    now = time.time()
    if not PROGRESS_S or (not force and now - W.last_progress < PROGRESS_S):
        return
    W.last_progress = now
    log("model: progress t=%d examples=%d steps=%d quiets=%d ops=%d rss0_kb=%d rss1_kb=%d restarts1=%d"
        " heap0_kb=%d" % (now - W.t0, W.all_examples, W.all_steps, W.all_quiets, W.ops, W.rss(0),
                          W.rss(1), W.restarts[1], W.heap_kb(0)))


class LightlyModel(MoreRules, RuleBasedStateMachine):
    """Model: self.tags maps each tag name of this example's dataset to its
    set of sample names (the initial tag holds every sample), self.uid each
    name to a tag identity that renames keep, self.prev each name to its
    parent's identity; self.trash[m] what mount m deleted (name: members,
    parent identity; the newest deletion of a name wins)."""

    def __init__(self):
        super().__init__()
        self.samples = list(SAMPLES)
        self.index = {n: i for i, n in enumerate(self.samples)}
        self.uid, self.prev, self.next_uid = {}, {}, 0
        if POOL:
            self.pooled_dataset()
        else:
            W.ds_counter += 1
            self.ds = "model-%03d" % W.ds_counter
            self.ds_id = W.api("POST", "/v1/datasets", {"name": self.ds})["id"]
            W.api("POST", "/_emulator/datasets/%s/samples" % self.ds_id, {"fileNames": SAMPLES}, auth=False)
            self.initial_id = W.api("POST", "/v1/datasets/%s/tags/initial" % self.ds_id,
                                    {"imgType": "full", "name": INITIAL})["id"]
        self.tags = {INITIAL: set(SAMPLES)}
        self.identify(INITIAL, None)
        for name, s in SEED_TAGS.items():
            W.api("POST", "/v1/datasets/%s/tags" % self.ds_id,
                  {"name": name, "prevTagId": self.initial_id, "bitMaskData": self.hexmask(s),
                   "totSize": len(SAMPLES)})
            self.tags[name] = set(s)
            self.identify(name, INITIAL)
        self.trash = [{}, {}]
        now = max(time.time(), W.stale_until)
        self.changed = [now, now]   # when each mount last had a change by someone else
        self.steps = 0
        self.kills = self.emu_restarts = self.faults = self.upsizes = 0
        W.examples += 1
        W.all_examples += 1

    def pooled_dataset(self):
        """The next dataset of the pool, its tags deleted (children first)
        but the initial one."""
        k = W.all_examples % POOL
        while len(W.pool) <= k:
            name = "model-pool-%d" % len(W.pool)
            ds_id = W.api("POST", "/v1/datasets", {"name": name})["id"]
            W.api("POST", "/_emulator/datasets/%s/samples" % ds_id, {"fileNames": SAMPLES}, auth=False)
            init = W.api("POST", "/v1/datasets/%s/tags/initial" % ds_id,
                         {"imgType": "full", "name": INITIAL})["id"]
            W.pool.append((name, ds_id, init))
        self.ds, self.ds_id, self.initial_id = W.pool[k]
        while True:
            tags = W.api("GET", "/v1/datasets/%s/tags" % self.ds_id)
            parents = {t.get("prevTagId") for t in tags}
            leaves = [t for t in tags if t.get("prevTagId") and t["id"] not in parents]
            if not leaves:
                break
            for t in leaves:
                W.api("DELETE", "/v1/datasets/%s/tags/%s" % (self.ds_id, t["id"]))
        assert [t["name"] for t in tags] == [INITIAL], "pooled dataset %s kept %r" % (self.ds, tags)

    # --- plumbing
    def count(self, rule_name):
        W.rule_counts[rule_name] = W.rule_counts.get(rule_name, 0) + 1

    def hexmask(self, names):
        v = 0
        for n in names:
            v |= 1 << self.index[n]
        return hex(v)

    def identify(self, name, parent):
        """name is a new tag whose parent is the tag named parent."""
        self.next_uid += 1
        self.uid[name] = self.next_uid
        self.prev[name] = None if parent is None else self.uid[parent]

    def drop_tag(self, name):
        members, prev = self.tags.pop(name), self.prev.pop(name)
        del self.uid[name]
        return members, prev

    def rename(self, old, new):
        self.tags[new] = self.tags.pop(old)
        self.uid[new] = self.uid.pop(old)
        self.prev[new] = self.prev.pop(old)

    def parents(self):
        """Names of tags another tag has as parent (the server refuses to delete them)."""
        ids = set(self.prev.values())
        return {n for n, u in self.uid.items() if u in ids}

    def leaves(self):
        return [t for t in self.editable() if t not in self.parents()]

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
        """A change was made through mount m (None: through the API).  Not
        before W.stale_until: a mount that had a refresh fail (emu_restart)
        answers from what it has until then, others' changes included."""
        now = max(time.time(), W.stale_until)
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

    def settle(self, m, timeout=SETTLE_TIMEOUT_S):
        """Mount m's pending edits reached the server (its stats say so)."""
        end = time.time() + timeout
        stats = os.path.join(W.mounts[m]["mnt"], ".lightly", "stats")
        while True:
            r = self.worker(m).run([["read", stats]])[0]
            assert "ok" in r, "mount%d: reading .lightly/stats: %s" % (m, r)
            e = json.loads(r["ok"])["edits"]
            busy = e["tagsPending"] + e["tagsInFlight"] + e["tagsRetrying"] + e["movesWaiting"]
            if busy == 0:
                return
            assert time.time() < end, "mount%d: edits still pending after %d s: %r" % (
                m, timeout, e)
            time.sleep(0.05)

    def server_tag_list(self):
        return W.api("GET", "/v1/datasets/%s/tags" % self.ds_id)

    def server_tags(self, tags=None):
        names = W.api("GET", "/v1/datasets/%s/mappings?field=fileName" % self.ds_id)
        out = {}
        for t in tags if tags is not None else self.server_tag_list():
            v = int(t["bitMaskData"], 16)
            out[t["name"]] = {names[i] for i in range(len(names)) if v >> i & 1}
        return out

    def server_tag(self, name):
        for t in self.server_tag_list():
            if t["name"] == name:
                return t
        raise AssertionError("tag %s is not on the server" % name)

    def sync_ops(self, m, tags):
        return [["fsync", self.mnt(m, t)] for t in tags]

    def link_ops(self, m, tag, sample):
        dst = self.mnt(m, tag, sample)
        return [["makedirs", os.path.dirname(dst)], ["link", self.mnt(m, INITIAL, sample), dst]]

    def edit_ops(self, m, tag, sample):
        """ln S into T when T lacks it, else rm T/S; the model's change and
        the system call whose result to check (its index in the ops)."""
        if sample in self.tags[tag]:
            return [["unlink", self.mnt(m, tag, sample)]], 0, "rm"
        return self.link_ops(m, tag, sample), 1, "ln"

    def apply_edit(self, tag, sample, kind):
        (self.tags[tag].add if kind == "ln" else self.tags[tag].discard)(sample)

    # --- mount edits
    @precondition(lambda self: self.editable())
    @rule(m=st.integers(0, 1), sample=st.sampled_from(SAMPLES), t=st.integers(0, 15), sync=st.booleans())
    def ln(self, m, sample, t, sync):
        """ln DS/initial-tag/S DS/T/ (mkdir -p of S's folder under T first)"""
        self.count('ln')
        tag = pick(t, self.editable())
        res = self.do(m, self.link_ops(m, tag, sample) + (self.sync_ops(m, [tag]) if sync else []))
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
        self.count('rm')
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
        self.count('mv_sample')
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
        self.count('concurrent')
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
        self.count('mkdir')
        name = pick(n, self.free_names())
        res = self.do(m, [["mkdir", self.mnt(m, name)]])
        self.expect(res[0], "OK", "mkdir %s" % name)
        self.tags[name] = set()
        self.identify(name, INITIAL)
        self.by(m)

    @precondition(lambda self: not NO_TAGOPS and self.editable())
    @rule(m=st.integers(0, 1), t=st.integers(0, 15), plain=st.booleans())
    def rmtag(self, m, t, plain):
        """rmdir DS/T when T is empty and plain, else rm -r DS/T"""
        self.count('rmtag')
        tag = pick(t, self.editable())
        p = self.mnt(m, tag)
        if tag in self.parents():
            # the server refuses: the tag stays with its samples (rm -r's removals are taken back)
            op = "rmdir" if plain and not self.tags[tag] else "rm-r"
            err = self.do(m, [[op, p]])[0].get("err", "OK")
            # (rmdir: ENOTEMPTY when folders this mount made are left, as for a leaf)
            assert err in ("EBUSY", "ENOTEMPTY") if op == "rmdir" else err.startswith("rm -r exit 1"), (
                "%s of %s, another tag's parent: got %s, expected it refused" % (op, tag, err))
            return
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
        self.trash[m][tag] = self.drop_tag(tag)
        self.by(m)

    @precondition(lambda self: not NO_TAGOPS and self.editable() and self.free_names())
    @rule(m=st.integers(0, 1), t=st.integers(0, 15), n=st.integers(0, 15))
    def rename_tag(self, m, t, n):
        """mv DS/T DS/U (U is no tag)"""
        self.count('rename_tag')
        tag = pick(t, self.editable())
        name = pick(n, self.free_names())
        res = self.do(m, [["rename", self.mnt(m, tag), self.mnt(m, name)]])
        self.expect(res[0], "OK", "mv %s %s" % (tag, name))
        self.rename(tag, name)
        self.by(m)

    # --- another writer: the API
    @precondition(lambda self: not NO_API and self.editable())
    @rule(t=st.integers(0, 15), sample=st.sampled_from(SAMPLES))
    def api_flip(self, t, sample):
        """GET the tag, flip one sample's bit, PUT {name, bitMaskData}"""
        self.count('api_flip')
        tag = pick(t, self.editable())
        j = self.server_tag(tag)
        v = int(j["bitMaskData"], 16) ^ (1 << self.index[sample])
        note("api: %s %s %s" % (tag, "+" if v >> self.index[sample] & 1 else "-", sample))
        W.api("PUT", "/v1/datasets/%s/tags/%s" % (self.ds_id, j["id"]), {"name": tag, "bitMaskData": hex(v)})
        self.tags[tag] ^= {sample}
        self.by(None)

    @precondition(lambda self: not NO_API and not NO_TAGOPS and len(self.editable()) < MAX_TAGS)
    @rule(n=st.integers(0, 15), members=st.sets(st.sampled_from(SAMPLES), max_size=4))
    def api_create(self, n, members):
        """POST a tag (child of the initial tag) holding some samples"""
        self.count('api_create')
        name = pick(n, self.free_names())
        W.api("POST", "/v1/datasets/%s/tags" % self.ds_id,
              {"name": name, "prevTagId": self.initial_id, "bitMaskData": self.hexmask(members),
               "totSize": len(self.samples)})
        self.tags[name] = set(members)
        self.identify(name, INITIAL)
        self.by(None)

    @precondition(lambda self: not NO_API and not NO_TAGOPS and self.leaves())
    @rule(t=st.integers(0, 15))
    def api_delete(self, t):
        """DELETE a tag (no other tag's parent)"""
        self.count('api_delete')
        tag = pick(t, self.leaves())
        W.api("DELETE", "/v1/datasets/%s/tags/%s" % (self.ds_id, self.server_tag(tag)["id"]))
        self.drop_tag(tag)
        self.by(None)

    @precondition(lambda self: not NO_API and not NO_TAGOPS and self.editable() and self.free_names())
    @rule(t=st.integers(0, 15), n=st.integers(0, 15))
    def api_rename(self, t, n):
        """PUT {name: NEW} (the mask left as it is)"""
        self.count('api_rename')
        tag = pick(t, self.editable())
        name = pick(n, self.free_names())
        W.api("PUT", "/v1/datasets/%s/tags/%s" % (self.ds_id, self.server_tag(tag)["id"]), {"name": name})
        self.rename(tag, name)
        self.by(None)

    # --- checks
    @rule()
    def quiet_point(self):
        self.quiet()

    def quiet(self):
        """Both mounts settled and past the TTL: each lists what the server holds."""
        W.quiets += 1
        W.all_quiets += 1
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
        listed = self.server_tag_list()
        server = self.server_tags(listed)
        assert set(server) == set(self.tags), "server tags %r, model %r" % (sorted(server), sorted(self.tags))
        by_id = {t["id"]: t["name"] for t in listed}
        by_uid = {u: n for n, u in self.uid.items()}
        for t in listed:
            got, want = by_id.get(t.get("prevTagId")), by_uid.get(self.prev[t["name"]])
            assert got == want, "tag %s: parent on the server %s, model %s" % (t["name"], got, want)
        for t in sorted(server):
            assert server[t] == self.tags[t], "tag %s: server has %s more, %s fewer than the model" % (
                t, sorted(server[t] - self.tags[t]), sorted(self.tags[t] - server[t]))
        self.steps += 1
        W.checks += 1
        W.all_steps += 1
        progress()
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


def engine_artifact(e):
    """Hypothesis replays choices it made before; the servers' state has
    moved on since, so a replay may draw differently and overrun its
    buffer.  That is Flaky caused by StopTest, with no assertion behind
    it (a failure that does not replay is Flaky caused by the failure)."""
    return isinstance(e, Flaky) and isinstance(e.__cause__, StopTest)


def run_engine(s, cfg):
    """One seed's run; an engine artifact (engine_artifact) ends that run
    without a verdict, and the budget left goes on with a seed derived
    from s, so a soak runs its whole time."""
    k = 0
    while True:
        LightlyModel._hypothesis_internal_use_seed = s + k * 7919
        try:
            run_state_machine_as_test(LightlyModel, settings=cfg)
            return
        except Flaky as e:
            if not engine_artifact(e):
                raise
            log("model: seed %d: hypothesis could not replay an earlier choice the same way "
                "(the servers have moved on; no check failed); going on with seed %d"
                % (s + k * 7919, s + (k + 1) * 7919))
            W.engine_restarts += 1
        k += 1
        if time.time() > W.deadline:
            return


def run_seed(s):
    W.deadline = time.time() + BUDGET_S
    W.out_of_budget = False
    W.examples = W.checks = W.quiets = W.engine_restarts = 0
    W.rule_counts = {}
    cfg = settings(max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None, database=None,
                   suppress_health_check=list(HealthCheck), print_blob=False,
                   phases=[Phase.explicit, Phase.generate, Phase.shrink],
                   verbosity=Verbosity.verbose if os.environ.get("MODEL_VERBOSE") else Verbosity.normal)
    W.start_mounts()
    try:
        run_engine(s, cfg)
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
        progress(force=True)    # the soak's last row, the daemons still up
        W.stop_mounts()
        log("model: rules " + " ".join("%s=%d" % kv for kv in sorted(W.rule_counts.items())))


def main():
    global W
    if os.environ.get("MODEL_SEED"):
        seeds = [int(os.environ["MODEL_SEED"])]
    else:
        seeds = [FIXED_SEED, random.SystemRandom().randrange(1, 2**31)]
    W = world.W = World("cache_ttl=%g,flush_delay_ms=%d,timeout=%g" % (TTL, FLUSH_MS, REQ_TIMEOUT_S))
    W.pool = []
    W.stale_until = 0       # mounts may serve their caches unasked until then
    W.all_examples = W.all_steps = W.all_quiets = 0
    W.t0 = W.last_progress = time.time()
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
        off = [k[len("MODEL_NO_"):].lower() for k in sorted(os.environ)
               if k.startswith("MODEL_NO_") and os.environ[k] == "1"]
        log("model: daemon %s, emulator %s, %d examples x %d steps per seed, budget %g s per seed%s%s"
            % (BIN, W.url, EXAMPLES, STEPS, BUDGET_S, ", rules left out: " + " ".join(off) if off else "",
               ", %d pooled datasets (no upsize)" % POOL if POOL else ""))
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
