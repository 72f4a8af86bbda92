#!/usr/bin/env bash
# A/B of two lightlyfs builds on one emulator in the same run: warm `find`,
# `ls -l` and `ls -f` of a tag, median of RUNS, alternating the two mounts
# so that both see the same machine.  With MODE cold: each run mounts each
# build afresh for a cold `ls -f`, a first `ls -l`, and an `ls -l` right
# after an `ls -f` (the cold rows of bench/run.sh).  A measurement, not a
# test.
#
#   bench/ab.sh OLD_BINARY NEW_BINARY [SAMPLES] [RUNS] [warm|cold]
#
# Example (the build before a change against the current one):
#   git worktree add /tmp/old <commit> && cmake -S /tmp/old -B /tmp/old/build &&
#   cmake --build /tmp/old/build --target lightlyfs &&
#   bench/ab.sh /tmp/old/build/lightlyfs build/lightlyfs 1000000 5
set -euo pipefail
cd "$(dirname "$0")/.."
old=${1:?old binary} new=${2:?new binary} samples=${3:-1000000} runs=${4:-5}
mode=${5:-warm}
dir=$(mktemp -d)
epid=""
cleanup() {
	for m in old new; do
		if mountpoint -q "$dir/$m"; then fusermount3 -u "$dir/$m"; fi
	done
	sleep 0.5
	if [ -n "$epid" ]; then kill "$epid" 2>/dev/null || true; fi
	rm -rf "$dir"
}
trap cleanup EXIT
python3 scripts/lightly_emulator.py --port 0 --token ab-token \
	--dataset "abtest:$samples" >"$dir/emu.out" 2>"$dir/emu.err" &
epid=$!
port=""
for _ in $(seq 1 600); do
	port=$(sed -n 's/^port=//p' "$dir/emu.out")
	[ -n "$port" ] && break
	sleep 0.1
done
[ -n "$port" ] || { cat "$dir/emu.err"; exit 1; }
mount_one() { # binary dir
	mkdir -p "$2"
	LIGHTLY_TOKEN=ab-token LIGHTLY_SERVER_LOCATION="http://127.0.0.1:$port" \
		XDG_STATE_HOME="$dir/state" "$1" -f -o cache_ttl=3600 "$2" \
		2>"$2.log" &
	for _ in $(seq 1 100); do
		if mountpoint -q "$2"; then return 0; fi
		sleep 0.1
	done
	cat "$2.log"
	return 1
}
secs() {
	local s
	s=$(date +%s.%N)
	"$@" >/dev/null 2>&1
	awk -v a="$s" -v b="$(date +%s.%N)" 'BEGIN { printf "%.4f\n", b - a }'
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
tag="abtest/initial-tag"
if [ "$mode" = cold ]; then
	remount() { # build dir
		if mountpoint -q "$2"; then fusermount3 -u "$2"; fi
		mount_one "$1" "$2"
	}
	for i in $(seq 1 "$runs"); do
		# the second mount of a pair runs while the kernel still frees
		# the first one's inodes: each build goes first every other run
		order="old new"
		[ $((i % 2)) -eq 0 ] && order="new old"
		for m in $order; do
			bin=$old
			[ "$m" = new ] && bin=$new
			remount "$bin" "$dir/$m"
			echo "$m cold-ls-f $(secs ls -f "$dir/$m/$tag")"
			remount "$bin" "$dir/$m"
			echo "$m first-ls-l $(secs ls -l "$dir/$m/$tag")"
			remount "$bin" "$dir/$m"
			ls -f "$dir/$m/$tag" >/dev/null
			echo "$m ls-l-after-ls-f $(secs ls -l "$dir/$m/$tag")"
		done
	done >"$dir/times"
	workloads="cold-ls-f first-ls-l ls-l-after-ls-f"
else
	mount_one "$old" "$dir/old"
	mount_one "$new" "$dir/new"
	for m in old new; do # warm-up: fill both caches
		find "$dir/$m" >/dev/null
		ls -l "$dir/$m/$tag" >/dev/null
	done
	for i in $(seq 1 "$runs"); do
		order="old new"
		[ $((i % 2)) -eq 0 ] && order="new old"
		for m in $order; do
			echo "$m find $(secs find "$dir/$m/abtest")"
			echo "$m ls-l $(secs ls -l "$dir/$m/$tag")"
			echo "$m ls-f $(secs ls -f "$dir/$m/$tag")"
		done
	done >"$dir/times"
	workloads="find ls-l ls-f"
fi
echo "# reproduce: bench/ab.sh OLD NEW $samples $runs $mode"
echo
echo "| workload ($samples samples, $mode, median of $runs) | old | new | new / old |"
echo "|---|---|---|---|"
for w in $workloads; do
	o=$(awk -v w="$w" '$1 == "old" && $2 == w { print $3 }' "$dir/times" | median)
	n=$(awk -v w="$w" '$1 == "new" && $2 == w { print $3 }' "$dir/times" | median)
	awk -v w="$w" -v o="$o" -v n="$n" \
		'BEGIN { printf "| `%s` | %.0f ms | %.0f ms | %.2f× |\n", w, o * 1000, n * 1000, n / o }'
done
