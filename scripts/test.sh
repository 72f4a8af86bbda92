#!/usr/bin/env bash
# The test command: installs what is missing, builds with warnings as
# errors, runs the unit (ctest), emulator and integration (bats, real FUSE
# mounts) suites, and ends with one line "N passed, N failed" over all.
set -u
cd "$(dirname "$0")/.."
root=$(pwd)
build=${BUILD_DIR:-$root/build}
pass=0
fail=0

scripts/deps.sh || { echo "dependency install failed"; echo "0 passed, 1 failed"; exit 1; }

if ! { cmake -S . -B "$build" -DLIGHTLYFS_WERROR=ON ${CMAKE_EXTRA:-} >/dev/null &&
       cmake --build "$build" -j"$(nproc)" >"$build.log" 2>&1; }; then
	cat "$build.log" 2>/dev/null | tail -40
	echo "build failed"
	echo "0 passed, 1 failed"
	exit 1
fi

count() { # suite passed failed
	echo "== $1: $2 passed, $3 failed"
	pass=$((pass + $2))
	fail=$((fail + $3))
}

# unit tests
out=$(cd "$build" && ctest --output-on-failure 2>&1)
echo "$out" | tail -n 30
total=$(echo "$out" | sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p')
failed=$(echo "$out" | sed -n 's/.* \([0-9]*\) tests failed out of.*/\1/p')
if [ -z "$total" ]; then count unit 0 1; else count unit $((total - failed)) "$failed"; fi

# emulator tests
out=$(bash tests/emulator/run.sh 2>&1)
echo "$out" | tail -n 15
line=$(echo "$out" | grep -E '^emulator: [0-9]+ passed, [0-9]+ failed' | tail -1)
if [ -z "$line" ]; then count emulator 0 1; else
	count emulator "$(echo "$line" | awk '{print $2}')" "$(echo "$line" | awk '{print $4}')"
fi

# integration tests
export LIGHTLYFS_BIN="$build/lightlyfs"
tap=$(bats --tap tests/integration 2>&1)
echo "$tap" | grep -vE '^ok ' | tail -n 80
ok=$(echo "$tap" | grep -cE '^ok ')
nok=$(echo "$tap" | grep -cE '^not ok ')
if [ "$ok" -eq 0 ] && [ "$nok" -eq 0 ]; then nok=1; fi
count integration "$ok" "$nok"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
