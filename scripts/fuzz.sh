#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang, ASan and UBSan in
# their own build directory, and runs each for SECONDS (default 30) from its
# seed corpus.  New inputs go to BUILD/corpus/<target>, never into the repo;
# a crash leaves BUILD/artifacts/<target>-crash-* to replay with
#   BUILD/fuzz_<target> FILE
# Ends with one line "fuzz: N passed, N failed" (one count per target).
#
#   scripts/fuzz.sh [SECONDS]          FUZZ_BUILD_DIR=... to build elsewhere
set -u
cd "$(dirname "$0")/.." || exit 1
root=$(pwd)
secs=${1:-30}
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
targets=(bitmask api_decode)
pass=0
fail=0

case "$secs" in
'' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac

if ! command -v clang >/dev/null; then
	echo "clang is missing (apt-get install clang)"
	echo "fuzz: 0 passed, ${#targets[@]} failed"
	exit 1
fi

mkdir -p "$build"
build_targets=()
for t in "${targets[@]}"; do build_targets+=(--target "fuzz_$t"); done
if ! { cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DLIGHTLYFS_FUZZ=ON \
	-DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build/cmake.log" 2>&1 &&
	cmake --build "$build" -j"$(nproc)" \
		"${build_targets[@]}" \
		>"$build/build.log" 2>&1; }; then
	tail -40 "$build/cmake.log" "$build/build.log" 2>/dev/null
	echo "fuzz build failed"
	echo "fuzz: 0 passed, ${#targets[@]} failed"
	exit 1
fi

# allocator_may_return_null: a mask as large as a hostile totSize asks for
# must come back as -ENOMEM, as it does outside ASan.
export ASAN_OPTIONS=${ASAN_OPTIONS:-allocator_may_return_null=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

for t in "${targets[@]}"; do
	work="$build/corpus/$t"
	art="$build/artifacts"
	log="$build/fuzz_$t.log"
	mkdir -p "$work" "$art"
	args=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048
	      -max_len=4096 -print_final_stats=1
	      -artifact_prefix="$art/$t-")
	[ -f "tests/fuzz/$t.dict" ] && args+=(-dict="tests/fuzz/$t.dict")
	# The first directory receives what the run finds; the seeds are read.
	"$build/fuzz_$t" "${args[@]}" "$work" "tests/fuzz/corpus/$t" >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	if [ "$rc" -eq 0 ]; then
		echo "fuzz_$t: ok, ${runs:-?} runs in ${secs}s, corpus $(find "$work" -mindepth 1 -maxdepth 1 ! -name '.*' | wc -l) files"
		pass=$((pass + 1))
	else
		echo "fuzz_$t: FAILED (exit $rc), see $log"
		grep -E 'ERROR|runtime error|FUZZ_CHECK|\.c:[0-9]+:|Test unit written' "$log" | head -20
		fail=$((fail + 1))
	fi
done

echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
