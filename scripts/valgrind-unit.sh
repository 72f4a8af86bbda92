#!/usr/bin/env bash
# Runs every unit test binary of a build (BUILD_DIR/test_*) under valgrind:
# any memory error or definitely lost block fails the test.  Ends with one
# line "valgrind: N passed, N failed".
#
#   scripts/valgrind-unit.sh BUILD_DIR
# Use a build without -fsanitize: valgrind and ASan do not mix.
set -u
if [ "$#" -ne 1 ] || [ ! -d "$1" ]; then
	echo "usage: $0 BUILD_DIR" >&2
	exit 2
fi
build=$(cd "$1" && pwd)
pass=0
fail=0

if ! command -v valgrind >/dev/null; then
	echo "valgrind is missing (apt-get install valgrind)"
	echo "valgrind: 0 passed, 1 failed"
	exit 1
fi

tests=()
for t in "$build"/test_*; do
	[ -f "$t" ] && [ -x "$t" ] && tests+=("$t")
done
if [ "${#tests[@]}" -eq 0 ]; then
	echo "no test_* binaries in $build"
	echo "valgrind: 0 passed, 1 failed"
	exit 1
fi

for t in "${tests[@]}"; do
	name=$(basename "$t")
	log="$build/valgrind-$name.log"
	# The tests run from the build directory, as under ctest.
	if (cd "$build" && valgrind --error-exitcode=1 --leak-check=full \
		--errors-for-leak-kinds=definite --track-origins=yes \
		--log-file="$log" "$t" >"$log.out" 2>&1); then
		echo "$name: ok"
		pass=$((pass + 1))
	else
		echo "$name: FAILED, see $log and $log.out"
		grep -E '^==[0-9]+== (Invalid|Conditional|Use of|Syscall|Mismatched|[ 0-9,]+ bytes in .* definitely)' "$log" | head -10
		tail -5 "$log.out"
		fail=$((fail + 1))
	fi
done

echo "valgrind: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
