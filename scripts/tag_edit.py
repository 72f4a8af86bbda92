#!/usr/bin/env python3
"""Add and remove samples of a Lightly tag the way a lightlyfs mount does,
so that a script and mounts editing one tag at once lose no edit.

    LIGHTLY_TOKEN=... scripts/tag_edit.py [--server URL] DATASET_ID TAG_ID +3 -17 ...

+I adds the sample at index I of the dataset (its place in
`GET /v1/datasets/{id}/mappings?field=fileName`), -I removes it.

The API has no conditional update: a PUT writes a whole mask, so two writers
that read before either writes undo each other's edits.  A mount stamps each
write in the tag's history (the `changes` object of the PUT, which the server
keeps) with who wrote, how much history it had read and the samples it
flipped, then reads the tag back and repairs what a crossing write undid.  A
script that does the same (this one, or one written after it) is repaired by
the mounts and repairs them; one that does not is what no writer can protect
(its history entry says how many samples it flipped, not which).

The stamp, in the PUT's `changes`:
    {"bitMaskData": {"added": N, "removed": N},
     "lightlyfs": {"writer": 16 hex digits, the same for all of a writer's
                   writes, "seq": 1, 2, ... per write, "base": how many
                   history entries the mask was read with,
                   "added": [indices], "removed": [indices]}}
Read-back: with k the place of this write in the history,
  - a stamped write in [base, k) was overwritten by this one: its flips are
    done again, except on samples this writer flipped (it wrote last there)
    or that a write after k which had seen this one flipped;
  - a write after k that had not seen this one (unstamped, or stamped with
    base <= k) undid it: this writer's flips are done again (except where a
    write that had seen it flipped them after);
  - when that changes the mask, it is written again (stamped anew) and read
    back again, at most 4 times.
Also importable: edit(api, dataset_id, tag_id, adds, removes) -> stats dict.
"""
import argparse
import json
import os
import sys
import urllib.request

ROUNDS = 4


class Api:
    def __init__(self, server, token):
        self.server = server.rstrip("/")
        self.token = token

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.server + path, data=data, method=method,
            headers={"Content-Type": "application/json",
                     "Authorization": "Bearer " + self.token})
        with urllib.request.urlopen(req, timeout=60) as r:
            raw = r.read()
        return json.loads(raw) if raw else None


def stamp_of(entry):
    lf = (entry.get("changes") or {}).get("lightlyfs") if isinstance(entry, dict) else None
    if not isinstance(lf, dict) or not isinstance(lf.get("writer"), str):
        return None
    return lf


def flips(lf):
    return {i: True for i in lf.get("added", [])} | {i: False for i in lf.get("removed", [])}


def put(api, ds, tag_id, name, old, new, writer, seq, base):
    added = sorted(i for i in range(max(old.bit_length(), new.bit_length()))
                   if new >> i & 1 and not old >> i & 1)
    removed = sorted(i for i in range(max(old.bit_length(), new.bit_length()))
                     if old >> i & 1 and not new >> i & 1)
    api.call("PUT", "/v1/datasets/%s/tags/%s" % (ds, tag_id), {
        "name": name, "bitMaskData": hex(new),
        "changes": {"bitMaskData": {"added": len(added), "removed": len(removed)},
                    "lightlyfs": {"writer": writer, "seq": seq, "base": base,
                                  "added": added, "removed": removed}}})


def apply(mask, changes):
    for i, on in changes.items():
        mask = mask | 1 << i if on else mask & ~(1 << i)
    return mask


def edit(api, ds, tag_id, adds, removes, writer=None):
    """Flips the samples and repairs crossing writes; returns counts."""
    writer = writer or os.urandom(8).hex()
    mine = {i: True for i in adds} | {i: False for i in removes}
    t = api.call("GET", "/v1/datasets/%s/tags/%s" % (ds, tag_id))
    srv = int(t["bitMaskData"], 16)
    base = len(t.get("changes") or [])
    sent = apply(srv, mine)
    seq = 1
    put(api, ds, tag_id, t["name"], srv, sent, writer, seq, base)
    stats = {"puts": 1, "gets": 1, "overwrote": 0, "rewrites": 0}
    for _ in range(ROUNDS + 1):
        t = api.call("GET", "/v1/datasets/%s/tags/%s" % (ds, tag_id))
        stats["gets"] += 1
        h = t.get("changes") or []
        srv = int(t["bitMaskData"], 16)
        k = next((i for i in range(len(h) - 1, base - 1, -1)
                  if (stamp_of(h[i]) or {}).get("writer") == writer
                  and stamp_of(h[i]).get("seq") == seq), None)
        if k is None:
            break       # no history kept, or ours is gone: nothing to tell by
        later, unseen = {}, False
        for e in h[k + 1:]:
            lf = stamp_of(e)
            if lf is None or lf.get("base", 0) <= k:
                unseen = True
            else:
                later.update(flips(lf))
        want = srv
        for e in h[base:k]:
            lf = stamp_of(e)
            if lf is None:
                stats["overwrote"] += 1
                continue
            want = apply(want, {i: on for i, on in flips(lf).items()
                                if i not in mine and i not in later})
        if unseen:
            want = apply(want, {i: on for i, on in mine.items() if i not in later})
        if want == srv:
            break
        seq += 1
        base = len(h)
        put(api, ds, tag_id, t["name"], srv, want, writer, seq, base)
        stats["puts"] += 1
        stats["rewrites"] += 1
    return stats


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server", default=os.environ.get("LIGHTLY_SERVER_LOCATION",
                                                       "https://api.lightly.ai"))
    ap.add_argument("dataset_id")
    ap.add_argument("tag_id")
    ap.add_argument("flips", nargs="+", metavar="+I|-I")
    args = ap.parse_args()
    token = os.environ.get("LIGHTLY_TOKEN")
    if not token:
        sys.exit("tag_edit.py: set LIGHTLY_TOKEN")
    adds = [int(f[1:]) for f in args.flips if f.startswith("+")]
    removes = [int(f[1:]) for f in args.flips if f.startswith("-")]
    if len(adds) + len(removes) != len(args.flips):
        sys.exit("tag_edit.py: each sample is +INDEX or -INDEX")
    stats = edit(Api(args.server, token), args.dataset_id, args.tag_id, adds, removes)
    print(json.dumps(stats))


if __name__ == "__main__":
    main()
