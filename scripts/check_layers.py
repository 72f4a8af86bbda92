#!/usr/bin/env python3
"""The layering of src/ (docs/architecture.md), checked on a build's object
files: which file defines each global symbol and which files use it (nm).
Fails when two source files use each other (a call or a data reference,
either way), when files use each other in a longer circle, or when a
folder uses one that its row below does not allow; and, from the sources,
when a .c file is over FILE_MAX lines or a function over FUNC_MAX (its
body, between a '{' and a '}' at column 0: the tree's Linux style).
Prints each finding, then one line "layers: N passed, N failed" (four
checks).

    scripts/check_layers.py BUILD_DIR
    scripts/check_layers.py BUILD_DIR --dot | dot -Tpng > docs/layers.png

With --dot it checks nothing and prints the folders, their files and the
uses between folders as a graphviz graph (docs/layers.png).
"""
import collections
import os
import subprocess
import sys

# Which folders each folder of src/ may use: calls run down this list.
ALLOWED = {
    "common": set(),
    "index": {"common"},
    "transport": {"common"},
    "api": {"transport", "common"},
    "model": {"api", "index", "transport", "common"},
    "edits": {"model", "api", "index", "transport", "common"},
    "content": {"api", "transport", "common"},
    "fs": {"content", "edits", "model", "api", "index", "transport", "common"},
    "main": {"fs", "content", "edits", "model", "api", "index", "transport",
             "common"},
}
FILE_MAX = 800
FUNC_MAX = 80
OBJ_DIRS = ("CMakeFiles/lightlyfs_core.dir", "CMakeFiles/lightlyfs.dir")


def source_of(obj, base):
    """src/fs/nodes/tag.c for .../lightlyfs_core.dir/src/fs/nodes/tag.c.o"""
    rel = os.path.relpath(obj, base)
    return rel[: -len(".o")] if rel.endswith(".o") else rel


def folder_of(src):
    parts = src.split("/")
    return "main" if len(parts) == 2 else parts[1]


def read_objects(build):
    defs, uses = {}, {}
    for d in OBJ_DIRS:
        base = os.path.join(build, d)
        for root, _, files in os.walk(base):
            for f in files:
                if not f.endswith(".c.o"):
                    continue
                obj = os.path.join(root, f)
                src = source_of(obj, base)
                if not os.path.exists(src):
                    continue  # an object of a file since removed
                out = subprocess.run(["nm", obj], capture_output=True,
                                     text=True, check=True).stdout
                dset, uset = set(), set()
                for line in out.splitlines():
                    p = line.split()
                    if len(p) == 3 and p[1] in "TDBRV":
                        dset.add(p[2])
                    elif len(p) == 2 and p[0] == "U":
                        uset.add(p[1])
                defs[src], uses[src] = dset, uset
    return defs, uses


def edges_of(defs, uses):
    owner = {s: f for f, ds in defs.items() for s in ds}
    edges = collections.defaultdict(dict)
    for f, us in uses.items():
        for s in us:
            o = owner.get(s)
            if o and o != f:
                edges[f].setdefault(o, []).append(s)
    return edges


def circles(edges, nodes):
    """Strongly connected components of more than one file (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def function_name(lines, brace):
    """The name in the signature above the '{' at line brace."""
    sig = ""
    for k in range(brace - 1, max(brace - 8, -1), -1):
        if not lines[k].strip() or lines[k].startswith(("}", "#")):
            break
        sig = lines[k] + " " + sig
        if lines[k][:1].isalpha():
            break
    head = sig.split("(")[0].split()
    return head[-1].lstrip("*") if head and "(" in sig and "=" not in sig \
        .split("(")[0] else None


def oversized(sources):
    out = []
    for src in sources:
        with open(src, encoding="utf-8") as f:
            lines = f.read().split("\n")
        if len(lines) - 1 > FILE_MAX:
            out.append("%s: %d lines (at most %d)" % (src, len(lines) - 1,
                                                      FILE_MAX))
        i = 0
        while i < len(lines):
            if lines[i].startswith("{"):
                end = i + 1
                while end < len(lines) and not lines[end].startswith("}"):
                    end += 1
                name = function_name(lines, i)
                if name and end - i - 1 > FUNC_MAX:
                    out.append("%s:%d: %s has %d lines (at most %d)" % (
                        src, i + 1, name, end - i - 1, FUNC_MAX))
                i = end
            i += 1
    return out


def dot(defs, edges):
    """The folders, each with its files, and how many symbols one uses of
    another's, as a graphviz digraph (callers above callees)."""
    files = collections.defaultdict(list)
    for src in sorted(defs):
        files[folder_of(src)].append(src.split("/", 2)[-1])
    uses = collections.Counter()
    for a in edges:
        for b, syms in edges[a].items():
            if folder_of(a) != folder_of(b):
                uses[(folder_of(a), folder_of(b))] += len(syms)
    out = ["digraph layers {", "  rankdir=TB; nodesep=0.3; ranksep=0.5;",
           '  node [shape=box, fontname="Helvetica", fontsize=10];',
           '  edge [fontname="Helvetica", fontsize=9, color="#555555"];']
    for f in ALLOWED:
        if f in files:
            label = "src/%s/\\n%s" % (f, "\\n".join(files[f])) \
                if f != "main" else "src/main.c"
            out.append('  "%s" [label="%s"];' % (f, label))
    for (a, b), n in sorted(uses.items()):
        out.append('  "%s" -> "%s" [label="%d"];' % (a, b, n))
    out.append("}")
    return "\n".join(out)


def main(argv):
    want_dot = "--dot" in argv
    argv = [a for a in argv if a != "--dot"]
    if len(argv) != 2 or not os.path.isdir(argv[1]):
        print("usage: scripts/check_layers.py BUILD_DIR [--dot]",
              file=sys.stderr)
        return 2
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    defs, uses = read_objects(os.path.abspath(argv[1]))
    if not defs:
        print("no object files of src/ in %s" % argv[1])
        print("layers: 0 passed, 1 failed")
        return 1
    edges = edges_of(defs, uses)
    if want_dot:
        print(dot(defs, edges))
        return 0
    passed = failed = 0

    pairs = sorted({tuple(sorted((a, b))) for a in edges for b in edges[a]
                    if a in edges.get(b, {})})
    for a, b in pairs:
        print("two files use each other: %s (%s) <-> %s (%s)" % (
            a, ", ".join(sorted(edges[a][b])), b,
            ", ".join(sorted(edges[b][a]))))
    circ = [c for c in circles(edges, defs) if len(c) > 2]
    for c in circ:
        print("files in a circle: " + " ".join(c))
    bad = []
    for a in sorted(edges):
        for b in sorted(edges[a]):
            fa, fb = folder_of(a), folder_of(b)
            if fa != fb and fb not in ALLOWED.get(fa, set()):
                bad.append("%s uses %s (%s): %s may not use %s" % (
                    a, b, ", ".join(sorted(edges[a][b])), fa, fb))
    for line in bad:
        print("against the folders' direction: " + line)
    big = oversized(sorted(defs))
    for line in big:
        print("too long: " + line)
    for name, findings in (("pairs", pairs), ("circles", circ),
                           ("direction", bad), ("sizes", big)):
        if findings:
            print("== %s: FAILED" % name)
            failed += 1
        else:
            print("== %s: ok" % name)
            passed += 1
    print("%d files, %d uses between files" % (
        len(defs), sum(len(v) for v in edges.values())))
    print("layers: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
