#!/usr/bin/env bash
# A/B of two lightlyfs builds on one emulator in the same run: warm `find`,
# `ls -l` and `ls -f` of a tag, median of RUNS, alternating the two mounts
# so that both see the same machine.  A measurement, not a test.
#
#   bench/ab.sh OLD_BINARY NEW_BINARY [SAMPLES] [RUNS]
#
# Example (the build before a change against the current one):
#   git worktree add /tmp/old <commit> && cmake -S /tmp/old -B /tmp/old/build &&
#   cmake --build /tmp/old/build --target lightlyfs &&
#   bench/ab.sh /tmp/old/build/lightlyfs build/lightlyfs 1000000 5
set -euo pipefail
cd "$(dirname "$0")/.."
old=${1:?old binary} new=${2:?new binary} samples=${3:-1000000} runs=${4:-5}
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
mount_one "$old" "$dir/old"
mount_one "$new" "$dir/new"
secs() {
	local s
	s=$(date +%s.%N)
	"$@" >/dev/null 2>&1
	awk -v a="$s" -v b="$(date +%s.%N)" 'BEGIN { printf "%.4f\n", b - a }'
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
tag="abtest/initial-tag"
for m in old new; do # warm-up: fill both caches
	find "$dir/$m" >/dev/null
	ls -l "$dir/$m/$tag" >/dev/null
done
for _ in $(seq 1 "$runs"); do
	for m in old new; do
		echo "$m find $(secs find "$dir/$m/abtest")"
		echo "$m ls-l $(secs ls -l "$dir/$m/$tag")"
		echo "$m ls-f $(secs ls -f "$dir/$m/$tag")"
	done
done >"$dir/times"
echo "# reproduce: bench/ab.sh OLD NEW $samples $runs"
echo
echo "| workload ($samples samples, warm, median of $runs) | old | new | new / old |"
echo "|---|---|---|---|"
for w in find ls-l ls-f; do
	o=$(awk -v w="$w" '$1 == "old" && $2 == w { print $3 }' "$dir/times" | median)
	n=$(awk -v w="$w" '$1 == "new" && $2 == w { print $3 }' "$dir/times" | median)
	awk -v w="$w" -v o="$o" -v n="$n" \
		'BEGIN { printf "| `%s` | %.0f ms | %.0f ms | %.2f× |\n", w, o * 1000, n * 1000, n / o }'
done
