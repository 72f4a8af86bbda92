#!/usr/bin/env bash
# One command to see lightlyfs: installs what is missing, builds, starts the
# emulator with a demo account and mounts it (default ./mnt).
#   scripts/demo.sh [MOUNTPOINT]   start
#   scripts/demo.sh stop           unmount and stop the emulator
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
run="$root/.demo"
mkdir -p "$run"

stop() {
	if [ -f "$run/mnt" ]; then
		mnt=$(cat "$run/mnt")
		if mountpoint -q "$mnt"; then fusermount3 -u "$mnt" || true; fi
		rm -f "$run/mnt"
	fi
	if [ -f "$run/fs.pid" ]; then
		pid=$(cat "$run/fs.pid")
		for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		rm -f "$run/fs.pid"
	fi
	if [ -f "$run/emulator.pid" ]; then
		kill "$(cat "$run/emulator.pid")" 2>/dev/null || true
		rm -f "$run/emulator.pid"
	fi
	echo "demo stopped"
}

if [ "${1:-}" = "stop" ]; then
	stop
	exit 0
fi

mnt=$(realpath -m "${1:-$root/mnt}")
[ -f "$run/emulator.pid" ] && stop >/dev/null

scripts/deps.sh
cmake -S . -B build >/dev/null
cmake --build build -j"$(nproc)" >/dev/null

token=demo-token
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
[ -n "$port" ] || { cat "$run/emulator.err"; exit 1; }

mkdir -p "$mnt"
LIGHTLY_TOKEN=$token LIGHTLY_SERVER_LOCATION=http://127.0.0.1:$port \
	setsid build/lightlyfs -f "$mnt" >"$run/lightlyfs.log" 2>&1 </dev/null &
echo $! >"$run/fs.pid"
echo "$mnt" >"$run/mnt"
for _ in $(seq 1 100); do mountpoint -q "$mnt" && break; sleep 0.1; done
mountpoint -q "$mnt" || { cat "$run/lightlyfs.log"; exit 1; }

echo "Emulated Lightly account at http://127.0.0.1:$port, mounted at $mnt"
echo
(cd "$mnt" && find . -maxdepth 3 | LC_ALL=C sort | head -40)
echo "..."
echo
echo "Browse it:  ls $mnt   find $mnt/<dataset>/<tag>"
echo "Stop it:    scripts/demo.sh stop"
