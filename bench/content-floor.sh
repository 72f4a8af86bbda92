#!/usr/bin/env bash
# The floor under bench/content.sh's 50 MiB row: what a cold sequential
# read through the mount costs when the daemon does nothing but receive the
# bytes and answer the kernel's READs.
#
#   bench/content-floor.sh [--runs N] [--big-mb N]
#
# Three things are timed, alternating, each run on a fresh mount with an
# empty content cache: `cat` of one big sample through lightlyfs as built
# here (build/), `cat` through a build with bench/floor.patch applied (the
# bytes curl hands the daemon are dropped instead of kept, and every READ is
# answered from one static buffer: no copy of the daemon's own, no cache
# write, wrong bytes), and one `curl` of the sample's signed URL.  Prints a
# table of medians and ratios to curl.  The patched build is made in a
# temporary git worktree and removed after.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
RUNS=9
BIG_MB=50
while [ $# -gt 0 ]; do
	case "$1" in
	--runs) RUNS=${2:?}; shift 2 ;;
	--big-mb) BIG_MB=${2:?}; shift 2 ;;
	*) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
	esac
done
OURS="$ROOT/build/lightlyfs"
[ -x "$OURS" ] || { echo "build lightlyfs in build/ first" >&2; exit 1; }
W=$(mktemp -d "${TMPDIR:-/tmp}/lightlyfs-floor.XXXXXX")
EMU_PID="" FS_PID=""
cleanup() {
	set +e
	mountpoint -q "$W/mnt" && fusermount3 -u "$W/mnt"
	[ -n "$FS_PID" ] && wait "$FS_PID" 2>/dev/null
	[ -n "$EMU_PID" ] && kill "$EMU_PID" && wait "$EMU_PID" 2>/dev/null
	git -C "$ROOT" worktree remove --force "$W/tree" 2>/dev/null
	rm -rf --one-file-system "$W"
}
trap cleanup EXIT
mkdir -p "$W/mnt"

echo "building the floor (bench/floor.patch) in a worktree" >&2
git worktree add -q --detach "$W/tree" HEAD
git -C "$W/tree" apply "$ROOT/bench/floor.patch"
cmake -S "$W/tree" -B "$W/tree/build" -DCMAKE_BUILD_TYPE=Release >"$W/build.log" 2>&1
cmake --build "$W/tree/build" -j"$(nproc)" --target lightlyfs >>"$W/build.log" 2>&1 ||
	{ tail -20 "$W/build.log" >&2; exit 1; }
FLOOR="$W/tree/build/lightlyfs"

python3 scripts/lightly_emulator.py --port 0 --token tk --state "$W/e.sqlite" >"$W/e.out" 2>"$W/e.err" &
EMU_PID=$!
PORT=""
for _ in $(seq 1 100); do
	PORT=$(sed -n 's/^port=\([0-9]*\)$/\1/p' "$W/e.out")
	[ -n "$PORT" ] && break
	sleep 0.1
done
BASE="http://127.0.0.1:$PORT"
URL=$(python3 - "$BASE" $((BIG_MB * 1048576)) <<'PY'
import json, sys, urllib.request
base, size = sys.argv[1], int(sys.argv[2])
def req(method, path, body=None):
    r = urllib.request.Request(base + path + ("&" if "?" in path else "?") + "token=tk",
        method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(r) as f:
        d = f.read()
        return json.loads(d) if d else None
ds = req("POST", "/v1/datasets", {"name": "floor"})["id"]
sid = req("POST", "/v1/datasets/%s/samples" % ds,
          {"fileName": "big.png", "metaData": {"sizeInBytes": size}})["id"]
req("POST", "/v1/datasets/%s/tags/initial" % ds, {"imgType": "full", "name": "initial-tag"})
print(req("GET", "/v1/datasets/%s/samples/%s/readurl" % (ds, sid)))
PY
)
curl -fsS -o "$W/ref" "$URL" # renders the body in the emulator (untimed)
FILE="$W/mnt/floor/initial-tag/big.png"

ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
# cat_through BIN: the cold cat's milliseconds on a fresh mount
cat_through() {
	local t rc=0
	rm -rf "$W/xdg"
	XDG_CACHE_HOME="$W/xdg" LIGHTLY_TOKEN=tk LIGHTLY_SERVER_LOCATION=$BASE \
		"$1" -f -o cache_ttl=3600 "$W/mnt" 2>>"$W/fs.log" &
	FS_PID=$!
	for _ in $(seq 1 100); do mountpoint -q "$W/mnt" && break; sleep 0.05; done
	ls -l "$W/mnt/floor/initial-tag" >/dev/null
	t=$(date +%s%N)
	cat "$FILE" >/dev/null || rc=$?
	ms_since "$t"
	[ "$1" = "$OURS" ] && { cmp -s "$FILE" "$W/ref" || echo "lightlyfs gave wrong bytes" >&2; }
	fusermount3 -u "$W/mnt"
	wait "$FS_PID" || true
	FS_PID=""
	return $rc
}
ours=() floor=() curls=()
for i in $(seq 1 "$RUNS"); do
	ours+=("$(cat_through "$OURS")")
	floor+=("$(cat_through "$FLOOR")")
	t=$(date +%s%N); curl -fsS -o /dev/null "$URL"; curls+=("$(ms_since "$t")")
	echo "run $i: lightlyfs ${ours[-1]} ms, floor ${floor[-1]} ms, curl ${curls[-1]} ms" >&2
done
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
MO=$(median "${ours[@]}") MF=$(median "${floor[@]}") MC=$(median "${curls[@]}")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f×", a / b }'; }
echo "Command: \`bench/content-floor.sh --runs $RUNS --big-mb $BIG_MB\` (git $(git rev-parse --short HEAD); $(nproc) CPUs; $(date -u '+%Y-%m-%d %H:%M UTC'))"
echo
echo "| cold \`cat\` of one $BIG_MB MiB sample, median of $RUNS | ms | vs one \`curl\` of its URL |"
echo "|---|---|---|"
echo "| lightlyfs | $MO | $(ratio "$MO" "$MC") |"
echo "| floor: bench/floor.patch (no copy, no cache write, wrong bytes) | $MF | $(ratio "$MF" "$MC") |"
echo "| one \`curl -o /dev/null\` | $MC | 1.00× |"
