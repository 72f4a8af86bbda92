#!/usr/bin/env bash
# The style checks of STYLE.md ("a check script that CI runs"), from any
# directory.  Three checks, each counted once:
#  - clang-format: the C sources (src, include, tests/unit, tests/fuzz) are
#    formatted as the repository's .clang-format says;
#  - line length: no line of those C sources is over 80 columns (a tab
#    counts as 8);
#  - shellcheck over every shell script, tests/integration/helpers.bash and
#    the bats suites.
# Prints each finding, then one line "style: N passed, N failed".
# scripts/deps.sh installs clang-format and shellcheck.
set -u
cd "$(dirname "$0")/.." || exit 1
pass=0
fail=0
MAX_COLUMNS=80
BATS_SHELLCHECK_MIN=0.7 # the first shellcheck that reads bats files

# verdict NAME STATUS: counts one check
verdict() {
	if [ "$2" -eq 0 ]; then
		echo "== $1: ok"
		pass=$((pass + 1))
	else
		echo "== $1: FAILED"
		fail=$((fail + 1))
	fi
}

mapfile -t c_files < <(find src include tests/unit tests/fuzz -type f \
	\( -name '*.c' -o -name '*.h' \) | LC_ALL=C sort)

# one line per change clang-format would make, then a count by file
check_clang_format() {
	local out rc findings
	if ! command -v clang-format >/dev/null; then
		echo "clang-format is missing (scripts/deps.sh installs it)"
		return 1
	fi
	[ "${#c_files[@]}" -gt 0 ] || { echo "no C files found"; return 1; }
	out=$(clang-format --style=file --dry-run -Werror "${c_files[@]}" 2>&1)
	rc=$?
	findings=$(grep -E '^[^ ]+:[0-9]+:[0-9]+: (error|warning): ' <<<"$out")
	if [ -n "$findings" ]; then
		echo "$findings"
		echo "clang-format: $(cut -d: -f1 <<<"$findings" | sort -u | wc -l)" \
			"of ${#c_files[@]} C files need formatting," \
			"$(wc -l <<<"$findings") changes"
	elif [ "$rc" -ne 0 ]; then
		echo "$out" # not a formatting finding: clang-format itself failed
	fi
	return "$rc"
}

# FILE:LINE: N columns, for every line over MAX_COLUMNS
check_line_length() {
	[ "${#c_files[@]}" -gt 0 ] || { echo "no C files found"; return 1; }
	python3 - "$MAX_COLUMNS" "${c_files[@]}" <<'PY'
import sys
limit, bad = int(sys.argv[1]), 0
for path in sys.argv[2:]:
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            width = len(line.rstrip("\r\n").expandtabs(8))
            if width > limit:
                print("%s:%d: %d columns (limit %d)" % (path, n, width, limit))
                bad += 1
sys.exit(1 if bad else 0)
PY
}

# the scripts through shellcheck (a shebang or directive names the shell)
# and, when this shellcheck reads them, the bats files
check_shellcheck() {
	local ver scripts=() bats=() rc=0
	if ! command -v shellcheck >/dev/null; then
		echo "shellcheck is missing (scripts/deps.sh installs it)"
		return 1
	fi
	mapfile -t scripts < <({
		printf '%s\n' scripts/*.sh bench/*.sh .ci/run \
			tests/integration/helpers.bash install/help2man.sh \
			install/mount.lightlyfs
		find tests -type f -name '*.sh'
	} | LC_ALL=C sort -u)
	mapfile -t bats < <(find tests -type f -name '*.bats' | LC_ALL=C sort)
	shellcheck -f gcc "${scripts[@]}" || rc=1
	ver=$(shellcheck --version | sed -n 's/^version: *//p')
	if [ "${#bats[@]}" -gt 0 ]; then
		if [ "$(printf '%s\n' "$BATS_SHELLCHECK_MIN" "$ver" |
			sort -V | head -1)" = "$BATS_SHELLCHECK_MIN" ]; then
			shellcheck -f gcc -s bats "${bats[@]}" || rc=1
		else
			echo "shellcheck $ver cannot read bats files" \
				"(needs $BATS_SHELLCHECK_MIN): ${#bats[@]} not checked"
		fi
	fi
	return "$rc"
}

check_clang_format
verdict clang-format $?
check_line_length
verdict "line length" $?
check_shellcheck
verdict shellcheck $?

echo "style: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
