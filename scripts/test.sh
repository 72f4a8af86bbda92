#!/usr/bin/env bash
# The test command: installs what is missing, builds with warnings as
# errors, runs the style checks (scripts/check-style.sh) and the unit
# (ctest), emulator, model (hypothesis) and integration (bats, real FUSE
# mounts) suites, and ends
# with one line "N passed, N failed" over all.
set -u
cd "$(dirname "$0")/.." || exit 1
root=$(pwd)
build=${BUILD_DIR:-$root/build}
pass=0
fail=0

scripts/deps.sh || { echo "dependency install failed"; echo "0 passed, 1 failed"; exit 1; }

# CMAKE_EXTRA: more cmake arguments, split at blanks
read -ra cmake_extra <<<"${CMAKE_EXTRA:-}"
if ! { cmake -S . -B "$build" -DLIGHTLYFS_WERROR=ON "${cmake_extra[@]}" >/dev/null &&
       cmake --build "$build" -j"$(nproc)" >"$build.log" 2>&1; }; then
	tail -40 "$build.log" 2>/dev/null
	echo "build failed"
	echo "0 passed, 1 failed"
	exit 1
fi

count() { # suite passed failed
	echo "== $1: $2 passed, $3 failed"
	pass=$((pass + $2))
	fail=$((fail + $3))
}

# runner OUTPUT SUITE: counts a "<word>: N passed, N failed" last line
summary() {
	local line
	line=$(echo "$1" | grep -E '^[a-z]+: [0-9]+ passed, [0-9]+ failed' | tail -1)
	if [ -z "$line" ]; then count "$2" 0 1; else
		count "$2" "$(echo "$line" | awk '{print $2}')" "$(echo "$line" | awk '{print $4}')"
	fi
}

# style: clang-format, 80 columns, shellcheck (one count per check)
out=$(bash scripts/check-style.sh 2>&1)
echo "$out" | tail -n 30
summary "$out" style

# layering: no two files of src/ use each other, no circle, folders use
# only those below them (docs/architecture.md), read off the objects built
out=$(python3 scripts/check_layers.py "$build" 2>&1)
echo "$out" | tail -n 30
summary "$out" layers

# unit tests
out=$(cd "$build" && ctest --output-on-failure 2>&1)
echo "$out" | tail -n 30
total=$(echo "$out" | sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p')
failed=$(echo "$out" | sed -n 's/.* \([0-9]*\) tests failed out of.*/\1/p')
if [ -z "$total" ]; then count unit 0 1; else count unit $((total - failed)) "$failed"; fi


# bats TAP output -> counts
integration() { # suite-name binary
	local tap ok nok
	tap=$(LIGHTLYFS_BIN="$2" bats --tap tests/integration 2>&1)
	echo "$tap" | grep -vE '^ok ' | tail -n 80
	ok=$(echo "$tap" | grep -cE '^ok ')
	nok=$(echo "$tap" | grep -cE '^not ok ')
	if [ "$ok" -eq 0 ] && [ "$nok" -eq 0 ]; then nok=1; fi
	count "$1" "$ok" "$nok"
}

# emulator tests
out=$(bash tests/emulator/run.sh 2>&1)
echo "$out" | tail -n 15
summary "$out" emulator

# the stateful model test: two mounts and an API writer edit tags in
# random sequences (a fixed seed and a random one, printed for replay),
# checked against a reference model at every quiet point
out=$(LIGHTLYFS_BIN="$build/lightlyfs" bash tests/model/run.sh 2>&1)
echo "$out" | tail -n 40
summary "$out" model

# integration tests against a real FUSE mount and the emulator
integration integration "$build/lightlyfs"

# unit tests again, under valgrind
out=$(bash scripts/valgrind-unit.sh "$build" 2>&1)
echo "$out" | tail -n 10
summary "$out" valgrind

# the whole integration suite with the daemon built with ASan and UBSan,
# stopping at the first error
asan=${ASAN_BUILD_DIR:-$root/build-asan}
if cmake -S . -B "$asan" -DLIGHTLYFS_WERROR=ON -DLIGHTLYFS_SANITIZE=ON >/dev/null &&
   cmake --build "$asan" -j"$(nproc)" --target lightlyfs >"$asan.log" 2>&1; then
	ASAN_OPTIONS=halt_on_error=1:detect_leaks=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		integration integration-asan "$asan/lightlyfs"
else
	tail -20 "$asan.log"
	count integration-asan 0 1
fi

# fuzzers, briefly (scripts/fuzz.sh SECONDS runs them longer)
out=$(bash scripts/fuzz.sh "${FUZZ_SECONDS:-20}" 2>&1)
echo "$out" | tail -n 5
summary "$out" fuzz

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
