#!/usr/bin/env bash
# One command to see lightlyfs: installs what is missing, builds, starts the
# emulator with a demo account, mounts it (default ./mnt) and gives a short
# guided tour, performed for real against the emulator.
#   scripts/demo.sh [MOUNTPOINT]   start; with a demo running, move its mount
#                                  to MOUNTPOINT, the account and what was
#                                  curated in it kept
#   scripts/demo.sh stop           unmount and stop the emulator, whatever
#                                  state the last run died in
# LIGHTLYFS_DEMO_DIR (default ./.demo) keeps its state; LIGHTLYFS_BIN skips
# the build and uses that daemon.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
run="${LIGHTLYFS_DEMO_DIR:-$root/.demo}"
mkdir -p "$run"

# a pid from FILE, if that process still runs
live_pid() {
	local pid
	[ -f "$1" ] || return 1
	pid=$(cat "$1")
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

stop() {
	local mnt pid
	if [ -f "$run/mnt" ]; then
		mnt=$(cat "$run/mnt")
		# a live mount unmounts; a dead one (daemon killed) needs -z
		if grep -qsF " $mnt fuse" /proc/mounts; then
			fusermount3 -u "$mnt" 2>/dev/null ||
				fusermount3 -uz "$mnt" 2>/dev/null || true
		fi
	fi
	if pid=$(live_pid "$run/fs.pid"); then
		for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
	fi
	if pid=$(live_pid "$run/emulator.pid"); then
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
	fi
	rm -f "$run/mnt" "$run/fs.pid" "$run/emulator.pid" "$run/state.sqlite"
	echo "demo stopped"
}

if [ "${1:-}" = "stop" ]; then
	stop
	exit 0
fi

# starts the daemon on $1 against the emulator at port $2
mount_demo() {
	mkdir -p "$1"
	echo "$1" >"$run/mnt"
	LIGHTLY_TOKEN=$token LIGHTLY_SERVER_LOCATION=http://127.0.0.1:$2 \
		XDG_STATE_HOME="$run/state" \
		setsid "$bin" -f "$1" >"$run/lightlyfs.log" 2>&1 </dev/null &
	echo $! >"$run/fs.pid"
	for _ in $(seq 1 100); do mountpoint -q "$1" && break; sleep 0.1; done
	mountpoint -q "$1" || { cat "$run/lightlyfs.log"; stop >/dev/null; exit 1; }
}

# a demo that runs moves: its edits are sent as it unmounts, and the same
# emulator (the same account) is mounted again at the new place
move() { # NEW-MOUNTPOINT PORT
	local old pid
	old=$(cat "$run/mnt" 2>/dev/null || true)
	if [ "$old" = "$1" ] && mountpoint -q "$1"; then
		echo "the demo is mounted at $1 already (scripts/demo.sh stop ends it)"
		exit 0
	fi
	if [ -n "$old" ] && grep -qsF " $old fuse" /proc/mounts; then
		fusermount3 -u "$old" 2>/dev/null || fusermount3 -uz "$old"
	fi
	if pid=$(live_pid "$run/fs.pid"); then
		for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	fi
	mount_demo "$1" "$2"
	echo "The demo moved from ${old:-nowhere} to $1: the same account, with what was curated in it"
	exit 0
}

token=demo-token
mnt=$(realpath -m "${1:-$root/mnt}")
bin="${LIGHTLYFS_BIN:-}"
if live_pid "$run/emulator.pid" >/dev/null; then
	port=$(sed -n 's/^port=\([0-9]*\)$/\1/p' "$run/emulator.out" 2>/dev/null || true)
	if [ -n "$port" ]; then
		[ -n "$bin" ] || bin=$root/build/lightlyfs
		[ -x "$bin" ] || { scripts/deps.sh && cmake -S . -B build >/dev/null &&
			cmake --build build -j"$(nproc)" >/dev/null; }
		move "$mnt" "$port"
	fi
fi
stop >/dev/null

if [ -z "$bin" ]; then
	scripts/deps.sh
	cmake -S . -B build >/dev/null
	cmake --build build -j"$(nproc)" >/dev/null
	bin=$root/build/lightlyfs
fi

# detached from this shell and its output, so the demo outlives the script
setsid python3 scripts/lightly_emulator.py --port 0 --token "$token" \
	--state "$run/state.sqlite" --demo >"$run/emulator.out" 2>"$run/emulator.err" </dev/null &
echo $! >"$run/emulator.pid"
port=""
for _ in $(seq 1 100); do
	port=$(sed -n 's/^port=\([0-9]*\)$/\1/p' "$run/emulator.out" 2>/dev/null || true)
	[ -n "$port" ] && break
	sleep 0.1
done
[ -n "$port" ] || { cat "$run/emulator.err"; stop >/dev/null; exit 1; }

mount_demo "$mnt" "$port"

say() { printf '\n\033[1m%s\033[0m\n' "$*"; }
show() { printf "\$ %s\n" "$1"; (cd "$mnt" && eval "$1"); }

echo "Emulated Lightly account at http://127.0.0.1:$port, mounted at $mnt"
cd "$mnt"
ds=$(find . -mindepth 1 -maxdepth 1 -type d ! -name '.*' -printf '%f\n' | LC_ALL=C sort | head -1)
src=$(find "$ds" -mindepth 1 -maxdepth 1 -type d ! -name '.*' -printf '%f\n' | LC_ALL=C sort | head -1)
say "1. The tree: datasets are directories, tags are subdirectories, samples are files"
show "find . -maxdepth 2 -not -path '*/.lightly*' | LC_ALL=C sort | head -20"
say "2. A tag made with mkdir (the server gets a new, empty tag)"
show "mkdir '$ds/picked-in-demo' && ls '$ds'"
say "3. Samples linked in with ln (zero-copy; each one reaches the server)"
files=$(cd "$ds/$src" && find . -type f -printf '%P\n' | LC_ALL=C sort | head -3)
for f in $files; do
	d=$(dirname "$f")
	[ "$d" = . ] || show "mkdir -p '$ds/picked-in-demo/$d'"
	show "ln '$ds/$src/$f' '$ds/picked-in-demo/$f'"
done
show "sync '$ds/picked-in-demo' && find '$ds/picked-in-demo' -type f"
say "4. Tag arithmetic: looked up by name (+ union, & intersection, ~ difference)"
show "ls '$ds/$src+picked-in-demo' | head -5"
show "ls '$ds/$src~picked-in-demo' | head -5"
say "5. An export for a labeling tool, and the trash of deleted tags"
show "ls '$ds/.lightly' && head -c 200 '$ds/.lightly/exports/picked-in-demo.labelbox.json'; echo ..."
say "6. Where the stats are"
show "head -c 300 .lightly/stats; echo ..."
say "7. How to stop"
echo "scripts/demo.sh stop      (unmounts $mnt and stops the emulator)"
