#!/usr/bin/env python3
"""Gathers bench/run.sh's runs: bench/RESULTS.md from bench/results/N.md (one
per sample count, smallest first, then the other notes there), and the chart
of listing time against sample count from bench/data/N.tsv.

  report.py BENCH_DIR OUT.png
"""
import glob
import os
import sys

SERIES = [  # label, style
    ("lightlyfs, cold (fresh mount)", dict(color="tab:blue", marker="o")),
    ("lightlyfs, warm", dict(color="tab:blue", marker="o", linestyle="--")),
    ("tmpfs", dict(color="black", marker="s")),
    ("serial curl of the name pages", dict(color="gray", marker=".", linestyle=":")),
    ("rclone, first ls -f", dict(color="tab:orange", marker="^")),
    ("rclone, warm", dict(color="tab:orange", marker="^", linestyle="--")),
    ("sshfs, first ls -f", dict(color="tab:green", marker="v")),
    ("sshfs, warm", dict(color="tab:green", marker="v", linestyle="--")),
]


def numeric_files(d, ext):
    out = []
    for path in glob.glob(os.path.join(d, "*" + ext)):
        stem = os.path.basename(path)[:-len(ext)]
        if stem.isdigit():
            out.append((int(stem), path))
    return sorted(out)


def gather(bench):
    runs = numeric_files(os.path.join(bench, "results"), ".md")
    others = sorted(p for p in glob.glob(os.path.join(bench, "results", "*.md"))
                    if not os.path.basename(p)[:-3].isdigit())
    parts = ["# lightlyfs benchmark\n\n"
             "One section per sample count, each from one run of `bench/run.sh "
             "--samples N` (every ratio is against a baseline measured in the same "
             "run). The chart is `docs/listing-time.png`.\n\n"
             "![listing time against sample count](../docs/listing-time.png)\n"]
    for _, path in runs:
        with open(path) as f:
            parts.append("\n" + f.read().rstrip("\n") + "\n")
    for path in others:
        with open(path) as f:
            parts.append("\n" + f.read().rstrip("\n") + "\n")
    with open(os.path.join(bench, "RESULTS.md"), "w") as f:
        f.write("".join(parts))


def points(bench):
    """series -> [(samples, seconds)] of the runs that finished."""
    pts = {}
    for n, path in numeric_files(os.path.join(bench, "data"), ".tsv"):
        with open(path) as f:
            for line in f:
                fields = line.rstrip("\n").split("\t")
                if len(fields) != 3:
                    continue
                try:
                    secs = float(fields[2])
                except ValueError:  # cut off (">60") or failed: not drawn
                    continue
                pts.setdefault(fields[1], []).append((n, secs))
    return pts


def chart(bench, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = points(bench)
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    for label, style in SERIES:
        xy = sorted(pts.get(label, []))
        if xy:
            ax.plot([x for x, _ in xy], [y for _, y in xy], label=label, **style)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("samples in the tag")
    ax.set_ylabel("`ls -f` of the whole tag, seconds")
    ax.set_title("Listing a tag: lightlyfs against tmpfs and peers\n"
                 "(peers missing where they did not finish within the cut-off)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out)


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__)
    gather(argv[1])
    chart(argv[1], argv[2])


if __name__ == "__main__":
    main(sys.argv)
