#!/usr/bin/env bash
# The model test as a soak (issue 21): one seed of tests/model/test_model.py
# run for --minutes (default 30) against two mounts of one emulated account,
# the examples taking turns over a pool of 4 datasets (reset at each
# example's start) so the working set stops growing once warm.  Prints, once
# a minute: examples, steps, operations and steps per second, and the RSS
# of both daemons (mount 1 is the one the kill -9 rule restarts, so mount
# 0's RSS is the one that must stay flat) and what malloc holds for mount 0
# (heapInUseBytes of its .lightly/stats: RSS less what freed memory and
# thread stacks add); then divergences (failed
# examples: 0 when the run passed) and mount 0's RSS growth after the warm
# first third.  A measurement with one verdict: exit 1 on a divergence.
#
#   bench/soak.sh [--minutes N] [--seed N] [--out FILE.md]
# The model's whole output stays in $SOAK_LOG (default /tmp/lfs-soak-SEED.log).
set -u
cd "$(dirname "$0")/.." || exit 1
minutes=30
seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
out=""
while [ $# -gt 0 ]; do
	case $1 in
	--minutes) minutes=$2; shift 2 ;;
	--seed) seed=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	*) echo "usage: bench/soak.sh [--minutes N] [--seed N] [--out FILE.md]" >&2; exit 2 ;;
	esac
done
build=${BUILD_DIR:-build}
rev=$(git rev-parse --short HEAD)
# the whole run's output, kept: a failure's shrunk sequence is in it
log=${SOAK_LOG:-/tmp/lfs-soak-$seed.log}

echo "# reproduce: bench/soak.sh --minutes $minutes --seed $seed (on $rev)"
MODEL_SEED=$seed MODEL_BUDGET_S=$((minutes * 60)) MODEL_EXAMPLES=1000000 \
	MODEL_PROGRESS_S=60 MODEL_DS_POOL=4 MODEL_TIMEOUT=$((minutes * 60 + 900)) \
	LIGHTLYFS_BIN="$PWD/$build/lightlyfs" bash tests/model/run.sh 2>&1 | tee "$log" |
	grep -E '^model: (progress|seed|rules|run took|[0-9]+ passed)'
rc=${PIPESTATUS[0]}

table=$(/usr/bin/python3 - "$log" "$minutes" "$seed" "$rc" <<'EOF'
import re, sys
path, minutes, seed, rc = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
rows = []
for line in open(path, errors="replace"):
    if line.startswith("model: progress "):
        rows.append({k: float(v) for k, v in re.findall(r"(\w+)=([0-9.]+)", line)})
text = open(path, errors="replace").read()
print("| minute | examples | steps | operations | steps/s | ops/s | RSS mount 0 (MiB) | malloc'ed mount 0 (MiB) | RSS mount 1 (MiB) | mount 1 restarts |")
print("|---|---|---|---|---|---|---|---|---|---|")
prev = {"t": 0, "steps": 0, "ops": 0}
for r in rows:
    dt = max(r["t"] - prev["t"], 1e-9)
    print("| %.0f | %d | %d | %d | %.2f | %.1f | %.1f | %s | %.1f | %d |" % (
        r["t"] / 60, r["examples"], r["steps"], r["ops"], (r["steps"] - prev["steps"]) / dt,
        (r["ops"] - prev["ops"]) / dt, r["rss0_kb"] / 1024,
        "%.2f" % (r["heap0_kb"] / 1024) if r.get("heap0_kb") else "-",
        r["rss1_kb"] / 1024, r.get("restarts1", 0)))
    prev = r
failed = "FAILED" in text or rc != 0
print()
print("Divergences (failing examples): %s." % ("1 (the run failed: see its shrunk sequence)" if failed else "0"))
if rows:
    warm = [r for r in rows if r["t"] >= rows[-1]["t"] / 3] or rows
    lo = min(r["rss0_kb"] for r in warm) / 1024
    hi = max(r["rss0_kb"] for r in warm) / 1024
    print("Mount 0's RSS after the first third: %.1f to %.1f MiB (first %.1f, last %.1f); "
          "%d steps in %.0f s, %.2f steps/s, %.1f ops/s overall." % (
              lo, hi, warm[0]["rss0_kb"] / 1024, rows[-1]["rss0_kb"] / 1024,
              rows[-1]["steps"], rows[-1]["t"], rows[-1]["steps"] / rows[-1]["t"],
              rows[-1]["ops"] / rows[-1]["t"]))
    heap = [r["heap0_kb"] / 1024 for r in warm if r.get("heap0_kb")]
    if heap:
        print("Mount 0's malloc'ed bytes after the first third: %.2f to %.2f MiB (first %.2f, last %.2f)." % (
            min(heap), max(heap), heap[0], heap[-1]))
rules = [l for l in text.splitlines() if l.startswith("model: rules")]
if rules:
    print()
    print("Rules fired: " + rules[-1][len("model: rules "):] + ".")
EOF
)
echo
echo "$table"
if [ -n "$out" ]; then
	{
		echo "# Soak: bench/soak.sh --minutes $minutes --seed $seed"
		echo
		echo "$(date -u +%F), $rev, $(nproc) CPUs."
		echo
		echo "$table"
	} >"$out"
fi
if [ "$rc" -ne 0 ]; then
	echo
	echo "the failure (whole output in $log):"
	grep -n -A 40 "Falsifying example" "$log" | head -80
fi
[ "$rc" -eq 0 ]
