#!/usr/bin/env bash
# Runs the emulator's own tests (tests/emulator/test_emulator.py) against
# scripts/lightly_emulator.py.  The last line printed is always
# 'emulator: N passed, N failed'; the exit status is non-zero on any failure.
# Arguments, if any, select tests by name (e.g. TestFaults.test_drop_closes_without_answer).
set -u
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

timeout 300 python3 "$here/test_emulator.py" "$@"
rc=$?
case $rc in
    0) exit 0 ;;
    3) exit 1 ;;
    *)  # the runner itself died (crash, timeout): it printed no summary
        echo "emulator: 0 passed, 1 failed (runner exited with status $rc)"
        exit 1 ;;
esac
