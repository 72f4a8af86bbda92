#!/usr/bin/env bash
# Runs the stateful model test (tests/model/test_model.py): two mounts of one
# emulated account and the API edit tags in random sequences drawn by
# Hypothesis, checked against a model of every tag.  Uses Debian's
# /usr/bin/python3 with python3-hypothesis (scripts/deps.sh installs it).
# The last line printed is always 'model: N passed, N failed' (N = seeds run);
# the exit status is non-zero on any failure.
# Replay a seed: MODEL_SEED=N tests/model/run.sh; budget and switches: see
# the docstring at the top of test_model.py (MODEL_EXAMPLES, MODEL_STEPS,
# MODEL_BUDGET_S, MODEL_NO_CONCURRENT, ...).
set -u
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if ! /usr/bin/python3 -c 'import hypothesis' 2>/dev/null; then
	echo "model: python3-hypothesis is missing (apt-get install python3-hypothesis, or scripts/deps.sh)"
	echo "model: 0 passed, 1 failed"
	exit 1
fi
# SIGTERM on timeout: the test unmounts and stops what it started
timeout -k 30 "${MODEL_TIMEOUT:-600}" /usr/bin/python3 "$here/test_model.py" "$@"
rc=$?
case $rc in
    0) exit 0 ;;
    3) exit 1 ;;
    *)  # the runner itself died (crash, timeout): it printed no summary
        echo "model: 0 passed, 1 failed (runner exited with status $rc)"
        exit 1 ;;
esac
