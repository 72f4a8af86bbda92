"""Rules of the model test (test_model.py) beyond single edits: cp, the
trash, tag arithmetic, upsize, and the disruptions (kill -9 of a daemon, the
server restarted, injected faults, a tag deleted under an edit).  A mixin of
LightlyModel: it uses the model's plumbing (do, settle, tags, ...)."""

import os
import time

from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

import world
from config import *  # noqa: F401,F403


class MoreRules:
    # --- cp, trash, arithmetic, upsize
    @precondition(lambda self: not NO_CP and self.editable())
    @rule(m=st.integers(0, 1), k=st.integers(0, 63), t=st.integers(0, 15), sync=st.booleans())
    def cp(self, m, k, t, sync):
        """cp DS/initial-tag/S DS/T/S (mkdir -p of S's folder first); T holds the sample's own bytes"""
        self.count("cp")
        tag = pick(t, self.editable())
        cands = sorted(set(self.samples) - self.tags[tag])
        if not cands:
            return
        sample = cands[k % len(cands)]
        src, dst = self.mnt(m, INITIAL, sample), self.mnt(m, tag, sample)
        res = self.do(m, [["makedirs", os.path.dirname(dst)], ["run", ["cp", src, dst]],
                          ["run", ["cmp", src, dst]]] + (self.sync_ops(m, [tag]) if sync else []))
        self.expect(res[1], "OK", "cp %s into %s" % (sample, tag))
        self.expect(res[2], "OK", "cmp of %s in %s with the initial tag's" % (sample, tag))
        if sync:
            self.expect(res[3], "OK", "fsync %s" % tag)
        self.tags[tag].add(sample)
        self.by(m)

    @precondition(lambda self: not NO_TAGOPS and not NO_TRASH and any(
        n not in self.tags for tr in self.trash for n in tr))
    @rule(t=st.integers(0, 15))
    def restore(self, t):
        """mv DS/.lightly/trash/T DS/T through the mount that deleted T (T's name free)"""
        self.count("restore")
        m, name = pick(t, [(k, n) for k in (0, 1) for n in self.trash[k] if n not in self.tags])
        res = self.do(m, [["rename", self.mnt(m, ".lightly", "trash", name), self.mnt(m, name)]])
        self.expect(res[0], "OK", "mv trash/%s %s" % (name, name))
        members, prev = self.trash[m].pop(name)
        self.tags[name] = set(members)
        # its parent if that tag is still there, else the initial tag
        self.identify(name, next((n for n, u in self.uid.items() if u == prev), INITIAL))
        self.by(m)

    @precondition(lambda self: not NO_TAGOPS and not NO_ARITH and len(self.editable()) < MAX_TAGS)
    @rule(m=st.integers(0, 1), a=st.integers(0, 15), b=st.integers(0, 15), op=st.sampled_from("+&~"),
          n=st.integers(0, 15))
    def arith(self, m, a, b, op, n):
        """ls DS/A<op>B, then mv DS/A<op>B DS/NEW: a tag holding the result, A its parent"""
        self.count("arith")
        ta, tb, name = pick(a, self.tags), pick(b, self.tags), pick(n, self.free_names())
        x, y = self.tags[ta], self.tags[tb]
        want = x | y if op == "+" else x & y if op == "&" else x - y
        src = self.mnt(m, ta + op + tb)
        res = self.do(m, [["files", src], ["rename", src, self.mnt(m, name)]])
        assert "ok" in res[0], "ls %s%s%s: %s" % (ta, op, tb, res[0])
        got = set(res[0]["ok"])
        assert got == want, "%s%s%s lists %s more, %s fewer" % (ta, op, tb, sorted(got - want),
                                                                sorted(want - got))
        self.expect(res[1], "OK", "mv %s%s%s %s" % (ta, op, tb, name))
        self.tags[name] = want
        self.identify(name, ta)
        self.by(m)

    @precondition(lambda self: not NO_API and not NO_UPSIZE and self.upsizes < UPSIZES_PER_EXAMPLE
                  and len(self.editable()) < MAX_TAGS)
    @rule(m=st.integers(-1, 1), n=st.integers(0, 15), k=st.integers(1, 2))
    def upsize(self, m, n, k):
        """POST k samples to the dataset, then echo NAME > DS/.lightly/upsize
        (mount m) or POST tags/upsize (m = -1, the API): the initial tag gains
        them, NAME holds them, other tags keep their members"""
        self.count("upsize")
        self.upsizes += 1
        new = []
        for _ in range(k):
            i = len(self.samples) + len(new) + 1
            new.append(("u/n%02d.png" if i % 2 else "n%02d.png") % i)
        for f in new:
            world.W.api("POST", "/v1/datasets/%s/samples" % self.ds_id, {"fileName": f})
        name = pick(n, self.free_names())
        if m < 0:
            world.W.api("POST", "/v1/datasets/%s/tags/upsize" % self.ds_id,
                  {"upsizeTagName": name, "upsizeTagCreator": "USER_PIP"})
        else:
            res = self.do(m, [["write", self.mnt(m, ".lightly", "upsize"), name + "\n"]])
            self.expect(res[0], "OK", "echo %s > .lightly/upsize" % name)
        for f in new:
            self.index[f] = len(self.samples)
            self.samples.append(f)
        self.tags[INITIAL] |= set(new)
        self.tags[name] = set(new)
        self.identify(name, INITIAL)
        self.by(None if m < 0 else m)

    # --- a daemon killed, the server restarted, faults
    @precondition(lambda self: not NO_KILL and self.kills < KILLS_PER_EXAMPLE and self.editable())
    @rule(sample=st.sampled_from(SAMPLES), t=st.integers(0, 15))
    def kill_remount(self, sample, t):
        """ln S into T (rm T/S when T holds it) on mount 1, kill -9 of its
        daemon right after the call returned, mount again from its state
        dir: the journal's edit reaches the server"""
        self.count("kill_remount")
        self.kills += 1
        tag = pick(t, self.editable())
        ops, i, kind = self.edit_ops(1, tag, sample)
        res = self.do(1, ops)
        self.expect(res[i], "OK", "%s %s in %s" % (kind, sample, tag))
        world.W.restart_mount(1)
        note("mount1 killed (-9) and mounted again")
        self.settle(1, RECOVER_TIMEOUT_S)
        self.apply_edit(tag, sample, kind)
        self.changed[1] = 0        # a new daemon: nothing cached
        self.by(1)

    @precondition(lambda self: not NO_EMU_RESTART and self.emu_restarts < EMU_RESTARTS_PER_EXAMPLE
                  and self.editable())
    @rule(m=st.integers(0, 1), sample=st.sampled_from(SAMPLES), t=st.integers(0, 15), down=st.booleans())
    def emu_restart(self, m, sample, t, down):
        """the server stopped and started again on its port from its state
        file; an edit on mount m just before the stop (or while it is down,
        when down) reaches it once it is back"""
        self.count("emu_restart")
        self.emu_restarts += 1
        tag = pick(t, self.editable())
        ops, i, kind = self.edit_ops(m, tag, sample)
        # the user has the dataset and the tag open: a mount that never
        # loaded them can only say EIO while the server is away
        seen = self.do(m, [["listdir", self.mnt(m)], ["files", self.mnt(m, tag)]])
        assert all("ok" in r for r in seen), "mount%d: ls of %s: %r" % (m, tag, seen)
        if not down:
            res = self.do(m, ops)
        world.W.stop_emulator()
        try:
            if down:
                # each lookup past the TTL waits for its refresh's deadline
                # (-o timeout) before the cached answer comes
                self.worker(m).send(ops)
                res = self.worker(m).recv(DOWN_OP_TIMEOUT_S)
                note("mount%d while the server is down: %s -> %s" % (m, self.short(ops), self.short(res)))
        finally:
            world.W.start_emulator()
        self.expect(res[i], "OK", "%s %s in %s" % (kind, sample, tag))
        self.count("emu_restart.down" if down else "emu_restart.before")
        self.settle(0, RECOVER_TIMEOUT_S)
        self.settle(1, RECOVER_TIMEOUT_S)
        self.apply_edit(tag, sample, kind)
        self.by(m)
        # a refresh that failed while the server was away makes the mount
        # serve what it has, without asking, for a while: others' changes
        # show that much later than the TTL
        # (the next example's dataset too: world.W keeps it)
        world.W.stale_until = time.time() + STALE_AFTER_FAILURE_S
        self.changed = [world.W.stale_until] * 2

    @precondition(lambda self: not NO_FAULTS and self.faults < FAULTS_PER_EXAMPLE and self.editable())
    @rule(m=st.integers(0, 1), sample=st.sampled_from(SAMPLES), t=st.integers(0, 15),
          kind=st.sampled_from(sorted(FAULTS)), method=st.sampled_from(["GET", "PUT"]))
    def fault(self, m, sample, t, kind, method):
        """a bounded fault on the tag's GET or PUT, then an edit and fsync on
        mount m: fsync succeeds only when the server holds the edit (EIO is
        allowed while the fault lasts); after the fault is cleared the edit
        lands"""
        self.count("fault")
        self.faults += 1
        tag = pick(t, self.editable())
        ops, i, kind_ = self.edit_ops(m, tag, sample)
        self.fresh(m)
        world.W.api("POST", "/_emulator/faults", dict(FAULTS[kind], match=method + " " + TAG_ROUTE), auth=False)
        try:
            res = self.do(m, ops + self.sync_ops(m, [tag]))
            self.expect(res[i], "OK", "%s %s in %s" % (kind_, sample, tag))
            err = res[-1].get("err", "OK")
            assert err in ("OK", "EIO"), "fsync %s under a %s fault: %s" % (tag, kind, err)
            self.count("fault.fsync_" + err.lower())
            if err == "OK":
                held = sample in self.server_tags().get(tag, set())
                assert held == (kind_ == "ln"), "fsync %s returned 0 but the server %s %s" % (
                    tag, "lacks" if kind_ == "ln" else "still holds", sample)
        finally:
            world.W.api("DELETE", "/_emulator/faults", auth=False)
        self.settle(m, RECOVER_TIMEOUT_S)
        self.apply_edit(tag, sample, kind_)
        self.by(m)

    @precondition(lambda self: not NO_API and not NO_TAGOPS and not NO_DELETED_EDIT and self.leaves())
    @rule(m=st.integers(0, 1), sample=st.sampled_from(SAMPLES), t=st.integers(0, 15), kill=st.booleans())
    def edit_deleted(self, m, sample, t, kill):
        """ln S into T (rm T/S when T holds it) on mount m, and the API
        deletes T before the flush (kill: on mount 1, killed -9 before the
        delete and mounted again after it): T stays deleted"""
        self.count("edit_deleted")
        tag = pick(t, self.leaves())
        kill = kill and not NO_KILL and self.kills < KILLS_PER_EXAMPLE
        if kill:
            m = 1
            self.kills += 1
        ops, i, kind = self.edit_ops(m, tag, sample)
        tag_id = self.server_tag(tag)["id"]
        res = self.do(m, ops)
        if kill:
            world.W.kill_mount(1)
        world.W.api("DELETE", "/v1/datasets/%s/tags/%s" % (self.ds_id, tag_id))
        if kill:
            world.W.start_mount(1)
            world.W.restarts[1] += 1
            note("mount1 killed (-9) before the delete, mounted again after it")
            self.changed[1] = 0
        self.expect(res[i], "OK", "%s %s in %s" % (kind, sample, tag))
        if kill:
            self.count("edit_deleted.kill")
        self.settle(m, RECOVER_TIMEOUT_S)
        self.drop_tag(tag)
        self.by(None)
